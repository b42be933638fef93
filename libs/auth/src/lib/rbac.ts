import type { Grants, Role } from '@parley/contracts';
import { AuthError } from './auth-error';
import type { TokenClaims } from './tokens';

/** What a caller wants to do. */
export type Action = keyof Grants;

/**
 * Who is calling the REST API: a tenant back end with its API key (everything within its
 * tenant), or a participant token (only its own room, only what its grants allow).
 */
export type Principal =
  | { kind: 'apiKey'; tenant: string; apiKey: string }
  | { kind: 'token'; tenant: string; claims: TokenClaims };

/** Rate-limit subject of a principal: its API key, or tenant + identity. */
export function principalId(p: Principal): string {
  return p.kind === 'apiKey' ? `key:${p.apiKey}` : `id:${p.claims.identity}`;
}

/**
 * Throws `AuthError('FORBIDDEN')` unless the grants allow the action. The role is a ceiling on top
 * of the grants: a `listener` never publishes and only an `admin` administers, whatever the
 * token says.
 */
export function assertGrant(role: Role, grants: Grants, action: Action): void {
  if (!hasGrant(role, grants, action)) {
    throw new AuthError('FORBIDDEN', `${role} without the ${action} grant may not do this`);
  }
}

/** Whether the grants, under the role's ceiling, allow the action (see {@link assertGrant}). */
export function hasGrant(role: Role, grants: Grants, action: Action): boolean {
  const roleAllows =
    action === 'publish' ? role !== 'listener' : action === 'admin' ? role === 'admin' : true;
  return roleAllows && grants[action];
}

/**
 * Authorizes a REST call on a room of a tenant. API keys may do anything within their tenant; a
 * token needs the grant and must be for that very room. Another tenant's room is never
 * addressable: callers scope room ids with the principal's tenant, this check is the backstop.
 */
export function authorizeRoom(p: Principal, tenant: string, room: string, action: Action): void {
  if (p.tenant !== tenant) throw new AuthError('FORBIDDEN', 'room belongs to another tenant');
  if (p.kind === 'apiKey') return;
  if (p.claims.room !== room) throw new AuthError('FORBIDDEN', 'token is for another room');
  assertGrant(p.claims.role, p.claims.grants, action);
}

/** Authorizes a tenant-wide REST call (create/list rooms, mint tokens): API keys only. */
export function authorizeTenant(p: Principal): void {
  if (p.kind !== 'apiKey') throw new AuthError('FORBIDDEN', 'this call needs the API key');
}
