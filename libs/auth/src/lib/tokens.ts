import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  DEFAULT_GRANTS,
  DisplayName,
  Grants,
  Identity,
  Role,
  RoomName,
  TenantId,
} from '@parley/contracts';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { AuthError } from './auth-error';
import type { TenantRegistry } from './tenants';

/**
 * Parley access tokens: HS256 JWTs signed with a tenant's API secret (LiveKit's design).
 *
 * | claim    | meaning                                             |
 * |----------|-----------------------------------------------------|
 * | `iss`    | API key (selects the tenant and the secret)         |
 * | `sub`    | participant identity                                |
 * | `tenant` | tenant id (must match the API key's tenant)         |
 * | `room`   | room name within the tenant                         |
 * | `role`   | `admin` / `member` / `listener`                     |
 * | `grants` | `{ join, publish, subscribe, admin }`               |
 * | `name`   | optional display name                               |
 * | `exp`, `nbf`, `iat`, `jti` | validity window and id                |
 *
 * **Expiry during a call.** Like LiveKit, a token is checked when a connection is opened (and when
 * a session is resumed), not afterwards: a call outlives its token. Before the token expires the
 * server sends the connection a fresh one (`tokenRefreshed`), which the client uses to reconnect.
 * Revoking access mid-call is done by removing the participant (admin API), not by expiry.
 */

const ALG = 'HS256';
const enc = new TextEncoder();
const B64URL = /^[A-Za-z0-9_-]*$/;

/** A base64url JSON object segment of a compact JWS; TOKEN_MALFORMED otherwise. */
function decodeSegment(segment: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw new AuthError('TOKEN_MALFORMED', 'token is not a JWT');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new AuthError('TOKEN_MALFORMED', 'token is not a JWT');
  }
  return v as Record<string, unknown>;
}

/** Claims Parley adds to the registered JWT claims. */
const ParleyClaims = z.object({
  iss: z.string().min(1),
  sub: Identity,
  tenant: TenantId,
  room: RoomName,
  role: Role,
  grants: Grants,
  name: DisplayName.optional(),
  exp: z.number().int(),
  nbf: z.number().int().optional(),
  iat: z.number().int().optional(),
  jti: z.string().max(64).optional(),
});

/** What a verified token says. */
export interface TokenClaims {
  /** API key that signed it. */
  apiKey: string;
  tenant: string;
  /** Participant identity (`sub`). */
  identity: string;
  room: string;
  role: Role;
  /** Grants as signed, narrowed by the role's ceiling (a listener never publishes). */
  grants: Grants;
  name?: string;
  /** Expiry, ms since epoch. */
  expiresAt: number;
  /** Not valid before, ms since epoch. */
  notBefore: number;
  /** Token id. */
  jti?: string;
}

/** Grants within the role's ceiling: a token may narrow its role's grants, never widen them. */
export function effectiveGrants(role: Role, grants?: Partial<Grants>): Grants {
  const ceiling = DEFAULT_GRANTS[role];
  return {
    join: ceiling.join && (grants?.join ?? true),
    publish: ceiling.publish && (grants?.publish ?? true),
    subscribe: ceiling.subscribe && (grants?.subscribe ?? true),
    admin: ceiling.admin && (grants?.admin ?? true),
  };
}

/** Options of {@link mintToken}. */
export interface MintTokenOptions {
  /** API key (becomes `iss`). */
  apiKey: string;
  /** API secret the token is signed with. */
  apiSecret: string;
  tenant: string;
  identity: string;
  room: string;
  /** Default `member`. */
  role?: Role;
  /** Narrower grants than the role's (never wider). */
  grants?: Partial<Grants>;
  /** Display name. */
  name?: string;
  /** Lifetime in seconds, default 3600. */
  ttlS?: number;
  /** Not valid before now + this many seconds, default 0. */
  notBeforeS?: number;
  /** Clock (tests). */
  now?: number;
}

/** A minted token. */
export interface MintedToken {
  token: string;
  claims: TokenClaims;
}

/**
 * Mints a token. This is the helper tenant back ends use to issue tokens themselves (they hold
 * their API key and secret); `POST /v1/tokens` uses it too. Inputs are validated; a bad identity
 * or room name throws `AuthError('BAD_REQUEST')`.
 */
export async function mintToken(opts: MintTokenOptions): Promise<MintedToken> {
  const role = opts.role ?? 'member';
  const checks = [
    ['tenant', TenantId.safeParse(opts.tenant)],
    ['identity', Identity.safeParse(opts.identity)],
    ['room', RoomName.safeParse(opts.room)],
    ['role', Role.safeParse(role)],
    ['name', DisplayName.optional().safeParse(opts.name)],
  ] as const;
  for (const [field, r] of checks) {
    if (!r.success) throw new AuthError('BAD_REQUEST', `${field}: ${r.error.issues[0]?.message}`);
  }
  if (opts.apiSecret.length < 32) throw new AuthError('BAD_REQUEST', 'API secret too short');
  const ttlS = opts.ttlS ?? 3600;
  if (!Number.isInteger(ttlS) || ttlS <= 0) throw new AuthError('BAD_REQUEST', 'ttlS must be > 0');
  const nowS = Math.floor((opts.now ?? Date.now()) / 1000);
  const nbf = nowS + (opts.notBeforeS ?? 0);
  const exp = nbf + ttlS;
  const grants = effectiveGrants(role, opts.grants);
  const jti = randomBytes(12).toString('base64url');
  const name = opts.name?.trim();
  const token = await new SignJWT({
    tenant: opts.tenant,
    room: opts.room,
    role,
    grants,
    ...(name ? { name } : {}),
  })
    .setProtectedHeader({ alg: ALG, typ: 'JWT' })
    .setIssuer(opts.apiKey)
    .setSubject(opts.identity)
    .setIssuedAt(nowS)
    .setNotBefore(nbf)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(enc.encode(opts.apiSecret));
  return {
    token,
    claims: {
      apiKey: opts.apiKey,
      tenant: opts.tenant,
      identity: opts.identity,
      room: opts.room,
      role,
      grants,
      ...(name ? { name } : {}),
      expiresAt: exp * 1000,
      notBefore: nbf * 1000,
      jti,
    },
  };
}

/** Options of {@link TokenVerifier}. */
export interface TokenVerifierOptions {
  /** Accepted clock skew for `exp`/`nbf`, seconds (default 5). */
  clockToleranceS?: number;
}

/**
 * Verifies Parley tokens against the tenants' secrets and says precisely what is wrong:
 * `TOKEN_MISSING`, `TOKEN_MALFORMED`, `TOKEN_UNKNOWN_KEY`, `TOKEN_BAD_SIGNATURE`,
 * `TOKEN_EXPIRED`, `TOKEN_NOT_YET_VALID`, `TOKEN_WRONG_TENANT`, `TOKEN_INVALID_CLAIMS`.
 * The signature is checked before any claim, so a forged token is always `TOKEN_BAD_SIGNATURE`.
 */
export class TokenVerifier {
  private readonly keys = new Map<string, Buffer>();
  private readonly toleranceS: number;

  constructor(
    private readonly tenants: TenantRegistry,
    opts: TokenVerifierOptions = {},
  ) {
    this.toleranceS = opts.clockToleranceS ?? 5;
  }

  /**
   * Verifies a token. With `tenant`, a valid token of another tenant is `TOKEN_WRONG_TENANT`.
   * Throws {@link AuthError}.
   */
  async verify(
    token: string | undefined | null,
    opts: { tenant?: string; now?: number } = {},
  ): Promise<TokenClaims> {
    return this.verifySync(token, opts);
  }

  /**
   * {@link verify} without a promise: the compact JWS is checked with node:crypto's HMAC directly
   * (jose's WebCrypto path imports the key and runs `subtle.verify` on every call, which costs
   * more than the rest of a WebSocket handshake). Same checks and codes as jose's `jwtVerify`
   * with `algorithms: ['HS256']`, `issuer`, `requiredClaims: ['exp', 'sub']` and the tolerance.
   */
  verifySync(
    token: string | undefined | null,
    opts: { tenant?: string; now?: number } = {},
  ): TokenClaims {
    if (!token) throw new AuthError('TOKEN_MISSING', 'no token given');
    if (token.length > 8192) throw new AuthError('TOKEN_MALFORMED', 'token too long');
    const parts = token.split('.');
    if (parts.length !== 3 || !B64URL.test(parts[0] as string) || !B64URL.test(parts[1] as string))
      throw new AuthError('TOKEN_MALFORMED', 'token is not a JWT');
    const [h, p, sig] = parts as [string, string, string];
    const header = decodeSegment(h);
    if (header['alg'] !== ALG) {
      throw new AuthError('TOKEN_MALFORMED', `token algorithm must be ${ALG}`);
    }
    // No extension is understood, so a token that makes one critical cannot be accepted (RFC 7515).
    if (header['crit'] !== undefined || header['b64'] !== undefined) {
      throw new AuthError('TOKEN_MALFORMED', 'token has critical header parameters');
    }
    const payload = decodeSegment(p);
    const iss = payload['iss'];
    if (typeof iss !== 'string' || !iss) {
      throw new AuthError('TOKEN_INVALID_CLAIMS', 'token has no issuer (API key)');
    }
    const key = this.tenants.find(iss);
    if (!key) throw new AuthError('TOKEN_UNKNOWN_KEY', 'token signed with an unknown API key');
    let secret = this.keys.get(key.apiKey);
    if (!secret) {
      secret = Buffer.from(key.apiSecret, 'utf8');
      this.keys.set(key.apiKey, secret);
    }
    const expected = createHmac('sha256', secret).update(`${h}.${p}`).digest();
    const given = B64URL.test(sig) ? Buffer.from(sig, 'base64url') : Buffer.alloc(0);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new AuthError('TOKEN_BAD_SIGNATURE', 'token signature does not verify');
    }
    this.checkTimes(payload, opts.now ?? Date.now());
    const claims = ParleyClaims.safeParse(payload);
    if (!claims.success) {
      const i = claims.error.issues[0];
      throw new AuthError(
        'TOKEN_INVALID_CLAIMS',
        `invalid token claim ${i?.path.join('.') || '(root)'}: ${i?.message}`,
      );
    }
    const c = claims.data;
    if (c.tenant !== key.tenant) {
      throw new AuthError('TOKEN_WRONG_TENANT', 'token tenant does not match its API key');
    }
    if (opts.tenant !== undefined && c.tenant !== opts.tenant) {
      throw new AuthError('TOKEN_WRONG_TENANT', 'token belongs to another tenant');
    }
    return {
      apiKey: key.apiKey,
      tenant: c.tenant,
      identity: c.sub,
      room: c.room,
      role: c.role,
      grants: effectiveGrants(c.role, c.grants),
      ...(c.name ? { name: c.name } : {}),
      expiresAt: c.exp * 1000,
      notBefore: (c.nbf ?? c.iat ?? 0) * 1000,
      ...(c.jti ? { jti: c.jti } : {}),
    };
  }

  /** The registered time claims, as jose checks them (`exp` and `sub` required). */
  private checkTimes(payload: Record<string, unknown>, nowMs: number): void {
    const now = Math.floor(nowMs / 1000);
    for (const claim of ['exp', 'sub'] as const) {
      if (payload[claim] === undefined) {
        throw new AuthError('TOKEN_INVALID_CLAIMS', `invalid token claim ${claim}: missing`);
      }
    }
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const v = payload[claim];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw new AuthError('TOKEN_INVALID_CLAIMS', `invalid token claim ${claim}: invalid`);
      }
    }
    const nbf = payload['nbf'] as number | undefined;
    if (nbf !== undefined && nbf > now + this.toleranceS) {
      throw new AuthError('TOKEN_NOT_YET_VALID', 'token not valid yet');
    }
    if ((payload['exp'] as number) <= now - this.toleranceS) {
      throw new AuthError('TOKEN_EXPIRED', 'token expired');
    }
  }

  /**
   * Mints a successor of a verified token (same claims, new validity window) with the tenant's
   * current secret: the server sends it to a connection before its token expires.
   */
  async refresh(claims: TokenClaims, ttlS: number, now = Date.now()): Promise<MintedToken> {
    const key = this.tenants.find(claims.apiKey);
    if (!key) throw new AuthError('TOKEN_UNKNOWN_KEY', 'API key no longer configured');
    return mintToken({
      apiKey: key.apiKey,
      apiSecret: key.apiSecret,
      tenant: claims.tenant,
      identity: claims.identity,
      room: claims.room,
      role: claims.role,
      grants: claims.grants,
      ...(claims.name ? { name: claims.name } : {}),
      ttlS,
      now,
    });
  }
}
