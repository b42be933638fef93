import type { SignalingConfig } from '@parley/config';
import {
  Authenticator,
  type RateLimit,
  TenantRegistry,
  TokenVerifier,
  parseRate,
  parseTenants,
} from '@parley/auth';

/** Injection token of {@link SignalingSettings}. */
export const SETTINGS = Symbol('signaling.settings');

/** Signaling's parsed configuration and the auth objects built from it. */
export interface SignalingSettings {
  config: SignalingConfig;
  tenants: TenantRegistry;
  verifier: TokenVerifier;
  authenticator: Authenticator;
  rates: {
    restTenant: RateLimit;
    restCaller: RateLimit;
    wsTenant: RateLimit;
    wsIdentity: RateLimit;
    joinTenant: RateLimit;
    joinIdentity: RateLimit;
    connectIp: RateLimit;
  };
}

/** Builds the settings; a bad tenants document throws (the service refuses to start). */
export function buildSettings(config: SignalingConfig): SignalingSettings {
  const tenants = new TenantRegistry(parseTenants(config.SIGNALING_TENANT_KEYS));
  const verifier = new TokenVerifier(tenants, {
    clockToleranceS: config.SIGNALING_TOKEN_CLOCK_TOLERANCE_S,
  });
  return {
    config,
    tenants,
    verifier,
    authenticator: new Authenticator(tenants, verifier),
    rates: {
      restTenant: parseRate(config.SIGNALING_RATE_REST_TENANT),
      restCaller: parseRate(config.SIGNALING_RATE_REST_CALLER),
      wsTenant: parseRate(config.SIGNALING_RATE_WS_TENANT),
      wsIdentity: parseRate(config.SIGNALING_RATE_WS_IDENTITY),
      joinTenant: parseRate(config.SIGNALING_RATE_JOIN_TENANT),
      joinIdentity: parseRate(config.SIGNALING_RATE_JOIN_IDENTITY),
      connectIp: parseRate(config.SIGNALING_RATE_CONNECT_IP),
    },
  };
}

/**
 * This node's id as a NATS subject token and Redis owner tag (`PARLEY_NODE_ID` and host names may
 * contain dots, which would split a subject).
 */
export function nodeToken(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 128);
}
