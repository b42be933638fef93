import { gunzipSync } from 'node:zlib';
import { type PrivateServer, startNatsServer, testRunId } from '@parley/testing';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  client,
  startSignaling,
  type TestSignaling,
} from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

// The demo page's routes: the page, its script (bundled by esbuild in memory), and the
// development tokens that exist only when SIGNALING_DEV_TOKENS names a tenant key outside
// production.
describe('signaling demo page routes', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  const running: TestSignaling[] = [];
  const run = testRunId('demo');

  const start = async (env: Record<string, string> = {}) => {
    const s = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:${running.length}:`,
      NODE_ENV: 'test',
      ...env,
    });
    running.push(s);
    return s;
  };

  const post = (s: TestSignaling, body: unknown) =>
    fetch(`${s.url}/demo/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
  });

  afterAll(async () => {
    await Promise.all(running.map((s) => s.close()));
    await sfu?.stop();
    await nats?.dispose();
  });

  it('GET / serves the page and GET /app.js its bundled script (gzip when accepted, 304 on its ETag)', async () => {
    const s = await start();
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain('<script src="/app.js"></script>');

    const plain = await fetch(`${s.url}/app.js`, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(plain.headers.get('content-encoding')).toBeNull();
    const code = await plain.text();
    // One self-contained browser script: mediasoup-client and the protocol are inside, nothing
    // is loaded from elsewhere.
    expect(code.length).toBeGreaterThan(100_000);
    expect(code).toContain('transcriptFinal');
    expect(code).not.toMatch(/\brequire\(["']/);
    expect(code).not.toMatch(/https?:\/\/(cdn|unpkg|esm\.sh)/);

    const etag = plain.headers.get('etag') ?? '';
    expect(etag).toMatch(/^".+"$/);
    const gz = await import('node:http').then(
      (http) =>
        new Promise<{ status: number; encoding?: string; body: Buffer }>((resolve, reject) => {
          const u = new URL(`${s.url}/app.js`);
          http
            .get(
              {
                host: u.hostname,
                port: u.port,
                path: u.pathname,
                headers: { 'accept-encoding': 'gzip' },
              },
              (res) => {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () =>
                  resolve({
                    status: res.statusCode ?? 0,
                    ...(res.headers['content-encoding']
                      ? { encoding: res.headers['content-encoding'] }
                      : {}),
                    body: Buffer.concat(chunks),
                  }),
                );
              },
            )
            .on('error', reject);
        }),
    );
    expect(gz.status).toBe(200);
    expect(gz.encoding).toBe('gzip');
    expect(gunzipSync(gz.body).toString('utf8')).toBe(code);
    expect(gz.body.length).toBeLessThan(code.length / 2);
    const again = await fetch(`${s.url}/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it('without SIGNALING_DEV_TOKENS the page is told so and POST /demo/token is NOT_FOUND', async () => {
    const s = running[0] ?? (await start());
    expect(await (await fetch(`${s.url}/demo/config`)).json()).toEqual({ devTokens: false });
    const r = await post(s, { identity: 'ada', room: 'lobby' });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('with SIGNALING_DEV_TOKENS, POST /demo/token creates the room with its options (once) and mints a member token the WebSocket accepts', async () => {
    const s = await start({ SIGNALING_DEV_TOKENS: TENANTS.acme.apiKey });
    expect(await (await fetch(`${s.url}/demo/config`)).json()).toEqual({ devTokens: true });
    const room = `demo-${run}`;
    const r = await post(s, {
      identity: 'ada',
      room,
      name: 'Ada L',
      transcription: true,
      agent: 'echo',
    });
    expect(r.status).toBe(201);
    const grant = (await r.json()) as Record<string, unknown>;
    expect(grant).toMatchObject({ identity: 'ada', room, role: 'member' });
    expect(grant['wsUrl']).toBe(s.wsUrl);

    const view = await fetch(`${s.url}/v1/rooms/${room}`, {
      headers: { authorization: basicAuth(TENANTS.acme) },
    });
    expect(await view.json()).toMatchObject({ name: room, transcription: true });
    // Same room again: it exists already and keeps its options.
    const second = await post(s, { identity: 'bob', room, transcription: false });
    expect(second.status).toBe(201);
    const after = await fetch(`${s.url}/v1/rooms/${room}`, {
      headers: { authorization: basicAuth(TENANTS.acme) },
    });
    expect(await after.json()).toMatchObject({ transcription: true });

    const c = client(s, String(grant['token']));
    await c.connect();
    const joined = await c.join({});
    expect(joined).toMatchObject({ room, identity: 'ada', role: 'member' });
    expect(joined.roomOptions.transcription).toBe(true);
    c.close();
  });

  it.each([
    [{ identity: 'a b', room: 'r' }, 'identity'],
    [{ identity: 'ada', room: '../x' }, 'room'],
    [{ identity: 'ada', room: 'r', role: 'admin' }, 'role'],
    [{ identity: 'ada', room: 'r', agent: 'smith' }, 'agent'],
  ])('POST /demo/token refuses %j with BAD_REQUEST naming %s', async (body, field) => {
    const s = running.at(-1) as TestSignaling;
    const r = await post(s, body);
    expect(r.status).toBe(400);
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe('BAD_REQUEST');
    expect(e.message).toContain(field);
  });

  it('SIGNALING_DEV_TOKENS is ignored in production and when it names no tenant key', async () => {
    const prod = await start({
      SIGNALING_DEV_TOKENS: TENANTS.acme.apiKey,
      NODE_ENV: 'production',
    });
    expect(await (await fetch(`${prod.url}/demo/config`)).json()).toEqual({ devTokens: false });
    expect((await post(prod, { identity: 'ada', room: 'r' })).status).toBe(404);
    expect(prod.logs.some((l) => String(l['msg']).includes('ignored in production'))).toBe(true);
    const unknown = await start({ SIGNALING_DEV_TOKENS: 'APInobody01' });
    expect(await (await fetch(`${unknown.url}/demo/config`)).json()).toEqual({ devTokens: false });
  });
});
