import { decodeJwt } from 'jose';
import { AuthError } from './auth-error';
import { TenantRegistry } from './tenants';
import { TokenVerifier, effectiveGrants, mintToken } from './tokens';

const acme = { tenant: 'acme', apiKey: 'APIacme0001', apiSecret: 'a'.repeat(40) };
const acme2 = { tenant: 'acme', apiKey: 'APIacme0002', apiSecret: 'b'.repeat(40) };
const globex = { tenant: 'globex', apiKey: 'APIglobex01', apiSecret: 'g'.repeat(40) };
const verifier = new TokenVerifier(new TenantRegistry([acme, acme2, globex]), {
  clockToleranceS: 2,
});

async function code(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(err)}`);
  return err.code;
}

describe('mintToken() and TokenVerifier', () => {
  it('mintToken() writes issuer = API key, subject = identity, tenant, room, role, grants, exp and nbf', async () => {
    const now = Date.UTC(2030, 0, 1);
    const { token, claims } = await mintToken({
      ...acme,
      identity: 'ada',
      room: 'standup',
      role: 'listener',
      name: 'Ada',
      ttlS: 600,
      now,
    });
    const p = decodeJwt(token);
    expect(p).toMatchObject({
      iss: 'APIacme0001',
      sub: 'ada',
      tenant: 'acme',
      room: 'standup',
      role: 'listener',
      name: 'Ada',
      grants: { join: true, publish: false, subscribe: true, admin: false },
      nbf: now / 1000,
      exp: now / 1000 + 600,
    });
    expect(claims.expiresAt).toBe(now + 600_000);
  });

  it('verify() returns the claims of a valid token, from any of the tenant’s keys', async () => {
    for (const key of [acme, acme2]) {
      const { token } = await mintToken({ ...key, identity: 'bob', room: 'r1' });
      const c = await verifier.verify(token);
      expect(c).toMatchObject({
        tenant: 'acme',
        identity: 'bob',
        room: 'r1',
        role: 'member',
        apiKey: key.apiKey,
      });
      expect(c.grants).toEqual({ join: true, publish: true, subscribe: true, admin: false });
    }
  });

  it('verify() says TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_UNKNOWN_KEY precisely', async () => {
    expect(await code(verifier.verify(undefined))).toBe('TOKEN_MISSING');
    expect(await code(verifier.verify(''))).toBe('TOKEN_MISSING');
    expect(await code(verifier.verify('abc.def'))).toBe('TOKEN_MALFORMED');
    expect(await code(verifier.verify('x'.repeat(9000)))).toBe('TOKEN_MALFORMED');
    const { token } = await mintToken({ ...acme, apiKey: 'APInobody01', identity: 'x', room: 'r' });
    expect(await code(verifier.verify(token))).toBe('TOKEN_UNKNOWN_KEY');
  });

  it('verify() says TOKEN_EXPIRED and TOKEN_NOT_YET_VALID, within the clock tolerance', async () => {
    const now = Date.now();
    const { token } = await mintToken({ ...acme, identity: 'x', room: 'r', ttlS: 60, now });
    expect((await verifier.verify(token, { now: now + 61_000 })).identity).toBe('x');
    expect(await code(verifier.verify(token, { now: now + 63_000 }))).toBe('TOKEN_EXPIRED');
    const later = await mintToken({ ...acme, identity: 'x', room: 'r', notBeforeS: 30, now });
    expect(await code(verifier.verify(later.token, { now }))).toBe('TOKEN_NOT_YET_VALID');
    expect((await verifier.verify(later.token, { now: now + 30_000 })).identity).toBe('x');
  });

  it('verify() checks the signature before the claims: a forged expired token is TOKEN_BAD_SIGNATURE', async () => {
    const { token } = await mintToken({
      ...acme,
      apiSecret: 'z'.repeat(40),
      identity: 'x',
      room: 'r',
      now: 0,
      ttlS: 10,
    });
    expect(await code(verifier.verify(token))).toBe('TOKEN_BAD_SIGNATURE');
    const good = (await mintToken({ ...acme, identity: 'x', room: 'r' })).token;
    const [h, , s] = good.split('.');
    const body = Buffer.from(JSON.stringify({ ...decodeJwt(good), role: 'admin' })).toString(
      'base64url',
    );
    expect(await code(verifier.verify(`${h}.${body}.${s}`))).toBe('TOKEN_BAD_SIGNATURE');
  });

  it('verify() says TOKEN_WRONG_TENANT for a tenant claim not matching the key, or another tenant than expected', async () => {
    const { token } = await mintToken({ ...globex, tenant: 'acme', identity: 'x', room: 'r' });
    expect(await code(verifier.verify(token))).toBe('TOKEN_WRONG_TENANT');
    const ok = (await mintToken({ ...globex, identity: 'x', room: 'r' })).token;
    expect(await code(verifier.verify(ok, { tenant: 'acme' }))).toBe('TOKEN_WRONG_TENANT');
  });

  it('verify() refuses alg none and tokens without exp', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ iss: acme.apiKey, sub: 'x' })).toString('base64url');
    expect(await code(verifier.verify(`${header}.${body}.`))).toBe('TOKEN_MALFORMED');
  });

  it('verify() refuses what jose refuses: crit headers, garbled segments, bad claim types, missing sub', async () => {
    const { createHmac } = await import('node:crypto');
    const sign = (header: object, payload: unknown, secret = acme.apiSecret): string => {
      const h = Buffer.from(JSON.stringify(header)).toString('base64url');
      const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
      const s = createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url');
      return `${h}.${p}.${s}`;
    };
    const nowS = Math.floor(Date.now() / 1000);
    const claims = {
      iss: acme.apiKey,
      sub: 'x',
      tenant: 'acme',
      room: 'r',
      role: 'member',
      grants: { join: true, publish: true, subscribe: true, admin: false },
      exp: nowS + 60,
    };
    expect((await verifier.verify(sign({ alg: 'HS256', typ: 'JWT' }, claims))).identity).toBe('x');
    expect(await code(verifier.verify(sign({ alg: 'HS256', crit: ['exp'] }, claims)))).toBe(
      'TOKEN_MALFORMED',
    );
    expect(await code(verifier.verify(sign({ alg: 'HS512' }, claims)))).toBe('TOKEN_MALFORMED');
    expect(await code(verifier.verify(sign({ alg: 'HS256' }, [claims])))).toBe('TOKEN_MALFORMED');
    expect(await code(verifier.verify('e30.!!!.abc'))).toBe('TOKEN_MALFORMED');
    expect(await code(verifier.verify(sign({ alg: 'HS256' }, { ...claims, exp: 'soon' })))).toBe(
      'TOKEN_INVALID_CLAIMS',
    );
    expect(await code(verifier.verify(sign({ alg: 'HS256' }, { ...claims, sub: undefined })))).toBe(
      'TOKEN_INVALID_CLAIMS',
    );
    expect(await code(verifier.verify(sign({ alg: 'HS256' }, { ...claims, iss: undefined })))).toBe(
      'TOKEN_INVALID_CLAIMS',
    );
    const good = sign({ alg: 'HS256' }, claims);
    expect(await code(verifier.verify(`${good.slice(0, -4)}`))).toBe('TOKEN_BAD_SIGNATURE');
    expect(await code(verifier.verify(`${good}=`))).toBe('TOKEN_BAD_SIGNATURE');
    expect(await code(verifier.verify(good.replace(/\.[^.]*$/, '.')))).toBe('TOKEN_BAD_SIGNATURE');
    expect(() =>
      verifier.verifySync(sign({ alg: 'HS256' }, { ...claims, exp: nowS - 10 })),
    ).toThrow('token expired');
  });

  it('a listener token never gets publish or admin, whatever its grants say', async () => {
    expect(effectiveGrants('listener', { publish: true, admin: true })).toEqual({
      join: true,
      publish: false,
      subscribe: true,
      admin: false,
    });
    expect(effectiveGrants('admin', { publish: false })).toEqual({
      join: true,
      publish: false,
      subscribe: true,
      admin: true,
    });
    expect(effectiveGrants('member', { admin: true }).admin).toBe(false);
  });

  it('mintToken() refuses bad input with BAD_REQUEST', async () => {
    expect(await code(mintToken({ ...acme, identity: 'has space', room: 'r' }))).toBe(
      'BAD_REQUEST',
    );
    expect(await code(mintToken({ ...acme, identity: 'x', room: 'bad/room' }))).toBe('BAD_REQUEST');
    expect(await code(mintToken({ ...acme, apiSecret: 'short', identity: 'x', room: 'r' }))).toBe(
      'BAD_REQUEST',
    );
    expect(await code(mintToken({ ...acme, identity: 'x', room: 'r', ttlS: 0 }))).toBe(
      'BAD_REQUEST',
    );
  });

  it('refresh() mints a successor with the same claims and a later expiry', async () => {
    const now = Date.now();
    const first = await verifier.verify(
      (await mintToken({ ...acme, identity: 'x', room: 'r', role: 'admin', ttlS: 100, now })).token,
    );
    const next = await verifier.refresh(first, 100, now + 50_000);
    const c = await verifier.verify(next.token, { now: now + 60_000 });
    expect(c).toMatchObject({ identity: 'x', room: 'r', role: 'admin', tenant: 'acme' });
    expect(c.expiresAt).toBe(first.expiresAt + 50_000);
  });
});
