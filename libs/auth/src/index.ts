/** Tokens with grants (jose), tenants with API keys, roles, REST credentials and rate limits. */
export * from './lib/auth-error';
export * from './lib/tenants';
export * from './lib/tokens';
export * from './lib/rbac';
export * from './lib/authenticator';
export * from './lib/rate-limiter';
