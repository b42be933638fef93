/** Tokens with grants, tenants and roles. */
export {};
