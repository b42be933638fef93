import { AuthError } from './auth-error';
import { parseAuthorization } from './authenticator';
import { TenantRegistry, parseTenants } from './tenants';
import { assertGrant, authorizeRoom, authorizeTenant } from './rbac';

const key = { tenant: 'acme', apiKey: 'APIacme0001', apiSecret: 's'.repeat(32) };

describe('tenants, credentials and RBAC', () => {
  it('parseTenants() reads the JSON list and refuses short secrets, bad ids and duplicate keys without echoing secrets', () => {
    expect(parseTenants(JSON.stringify([key]))).toEqual([key]);
    expect(parseTenants(undefined)).toEqual([]);
    expect(() => parseTenants('{')).toThrow(/not valid JSON/);
    expect(() => parseTenants(JSON.stringify([{ ...key, apiSecret: 'short-secret' }]))).toThrow(
      /32 characters/,
    );
    expect(() => parseTenants(JSON.stringify([{ ...key, apiSecret: 'short-secret' }]))).not.toThrow(
      /short-secret/,
    );
    expect(() => parseTenants(JSON.stringify([{ ...key, tenant: 'Bad-Tenant' }]))).toThrow(
      /tenant/,
    );
    expect(() => parseTenants(JSON.stringify([key, key]))).toThrow(/twice/);
  });

  it('TenantRegistry.authenticate() accepts the right secret only', () => {
    const r = new TenantRegistry([key]);
    expect(r.authenticate(key.apiKey, key.apiSecret).tenant).toBe('acme');
    expect(() => r.authenticate(key.apiKey, 'x'.repeat(32))).toThrow(AuthError);
    expect(() => r.authenticate(key.apiKey, 'short')).toThrow(AuthError);
    expect(() => r.authenticate('APInobody01', key.apiSecret)).toThrow(AuthError);
  });

  it('parseAuthorization() reads Basic key:secret and Bearer tokens, and refuses anything else', () => {
    const basic = `Basic ${Buffer.from(`${key.apiKey}:${key.apiSecret}`).toString('base64')}`;
    expect(parseAuthorization(basic)).toEqual({
      kind: 'apiKey',
      apiKey: key.apiKey,
      apiSecret: key.apiSecret,
    });
    expect(parseAuthorization('Bearer abc.def.ghi')).toEqual({
      kind: 'bearer',
      token: 'abc.def.ghi',
    });
    for (const bad of [
      undefined,
      '',
      'Basic',
      'Basic !!!',
      'Token x',
      `Basic ${Buffer.from('nocolon').toString('base64')}`,
    ]) {
      expect(() => parseAuthorization(bad)).toThrow(AuthError);
    }
  });

  it('assertGrant() lets a listener subscribe but never publish; only admins administer', () => {
    const all = { join: true, publish: true, subscribe: true, admin: true };
    expect(() => assertGrant('listener', all, 'subscribe')).not.toThrow();
    expect(() => assertGrant('listener', all, 'publish')).toThrow(/listener/);
    expect(() => assertGrant('member', all, 'admin')).toThrow(AuthError);
    expect(() => assertGrant('admin', all, 'admin')).not.toThrow();
    expect(() => assertGrant('member', { ...all, publish: false }, 'publish')).toThrow(AuthError);
  });

  it('authorizeRoom() confines tokens to their room and grants, API keys to their tenant', () => {
    const apiKey = { kind: 'apiKey' as const, tenant: 'acme', apiKey: key.apiKey };
    const claims = {
      apiKey: key.apiKey,
      tenant: 'acme',
      identity: 'boss',
      room: 'r1',
      role: 'admin' as const,
      grants: { join: true, publish: true, subscribe: true, admin: true },
      expiresAt: 0,
      notBefore: 0,
    };
    const token = { kind: 'token' as const, tenant: 'acme', claims };
    expect(() => authorizeRoom(apiKey, 'acme', 'any', 'admin')).not.toThrow();
    expect(() => authorizeRoom(apiKey, 'globex', 'any', 'admin')).toThrow(/another tenant/);
    expect(() => authorizeRoom(token, 'acme', 'r1', 'admin')).not.toThrow();
    expect(() => authorizeRoom(token, 'acme', 'r2', 'admin')).toThrow(/another room/);
    const member = { ...token, claims: { ...claims, role: 'member' as const } };
    expect(() => authorizeRoom(member, 'acme', 'r1', 'admin')).toThrow(AuthError);
    expect(() => authorizeTenant(token)).toThrow(/API key/);
    expect(() => authorizeTenant(apiKey)).not.toThrow();
  });
});
