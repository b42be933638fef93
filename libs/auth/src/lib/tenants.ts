import { timingSafeEqual } from 'node:crypto';
import { TenantId } from '@parley/contracts';
import { z } from 'zod';
import { AuthError } from './auth-error';

/** API keys: public identifiers (the JWT issuer), bounded and header-safe. */
export const ApiKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{8,64}$/, 'API keys are 8-64 of [A-Za-z0-9_-]');

/** One API key/secret pair of a tenant. A tenant may hold several (key rotation). */
export const TenantKey = z
  .object({
    tenant: TenantId,
    apiKey: ApiKey,
    /** HMAC-SHA256 secret: at least 32 characters (256 bits for HS256). */
    apiSecret: z.string().min(32, 'API secrets need at least 32 characters').max(512),
  })
  .strict();
/** One API key/secret pair of a tenant. */
export type TenantKey = z.infer<typeof TenantKey>;

/** The tenants configuration: a JSON array of key pairs. */
export const TenantsConfig = z.array(TenantKey).max(10_000);

/**
 * Parses the tenants configuration (`SIGNALING_TENANTS`, or the file `SIGNALING_TENANTS_FILE`):
 * `[{"tenant":"acme","apiKey":"APIacme01","apiSecret":"…32+ chars…"}]`. Throws an Error listing
 * every problem (never echoing a secret).
 */
export function parseTenants(json: string | undefined): TenantKey[] {
  if (json === undefined || json.trim() === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error('tenants: not valid JSON');
  }
  const parsed = TenantsConfig.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) => `${i.path.join('.') || '(root)'}: ${i.message}`,
    );
    throw new Error(`tenants: ${problems.slice(0, 10).join('; ')}`);
  }
  const seen = new Set<string>();
  for (const k of parsed.data) {
    if (seen.has(k.apiKey)) throw new Error(`tenants: API key ${k.apiKey} is listed twice`);
    seen.add(k.apiKey);
  }
  return parsed.data;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Compare equal-length buffers only; the length itself is not secret-dependent enough to matter
  // but the comparison still runs so a wrong length costs the same as a wrong secret.
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** Tenants by API key. */
export class TenantRegistry {
  private readonly byKey = new Map<string, TenantKey>();

  constructor(keys: readonly TenantKey[]) {
    for (const k of keys) this.byKey.set(k.apiKey, k);
  }

  /** Number of key pairs. */
  get size(): number {
    return this.byKey.size;
  }

  /** The key pair of an API key, if configured. */
  find(apiKey: string): TenantKey | undefined {
    return this.byKey.get(apiKey);
  }

  /** Every tenant id. */
  tenants(): string[] {
    return [...new Set([...this.byKey.values()].map((k) => k.tenant))];
  }

  /**
   * Checks an API key and secret (constant-time); returns the key pair or throws
   * `AuthError('UNAUTHORIZED')` without saying which half was wrong.
   */
  authenticate(apiKey: string, apiSecret: string): TenantKey {
    const k = this.byKey.get(apiKey);
    if (!k || !sameSecret(k.apiSecret, apiSecret)) {
      throw new AuthError('UNAUTHORIZED', 'invalid API key or secret');
    }
    return k;
  }
}
