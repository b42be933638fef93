import { AuthError } from './auth-error';
import type { Principal } from './rbac';
import type { TenantRegistry } from './tenants';
import type { TokenVerifier } from './tokens';

/** Credentials read from an `Authorization` header. */
export type Credentials =
  { kind: 'apiKey'; apiKey: string; apiSecret: string } | { kind: 'bearer'; token: string };

/**
 * Reads `Authorization: Basic base64(apiKey:apiSecret)` (tenant back ends) or
 * `Authorization: Bearer <token>` (participant tokens). Throws `AuthError` when absent or garbled.
 */
export function parseAuthorization(header: string | undefined): Credentials {
  if (!header) throw new AuthError('UNAUTHORIZED', 'missing Authorization header');
  const sp = header.indexOf(' ');
  const scheme = sp > 0 ? header.slice(0, sp).toLowerCase() : '';
  const value = sp > 0 ? header.slice(sp + 1).trim() : '';
  if (scheme === 'bearer' && value) return { kind: 'bearer', token: value };
  if (scheme === 'basic' && value && value.length <= 1024) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      return {
        kind: 'apiKey',
        apiKey: decoded.slice(0, colon),
        apiSecret: decoded.slice(colon + 1),
      };
    }
  }
  throw new AuthError(
    'UNAUTHORIZED',
    'Authorization must be `Basic <key:secret>` or `Bearer <token>`',
  );
}

/** Turns an `Authorization` header into a {@link Principal}. */
export class Authenticator {
  constructor(
    private readonly tenants: TenantRegistry,
    private readonly verifier: TokenVerifier,
  ) {}

  /** Authenticates a header; throws {@link AuthError} with the precise reason. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const c = parseAuthorization(header);
    if (c.kind === 'apiKey') {
      const k = this.tenants.authenticate(c.apiKey, c.apiSecret);
      return { kind: 'apiKey', tenant: k.tenant, apiKey: k.apiKey };
    }
    const claims = await this.verifier.verify(c.token);
    return { kind: 'token', tenant: claims.tenant, claims };
  }
}
