import type { SignalingClient } from '@parley/client';
import { ProtocolError } from '@parley/client';
import { type PrivateServer, startNatsServer, testRunId } from '@parley/testing';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  client,
  startSignaling,
  tokenFor,
  type TestSignaling,
} from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Waits until the start of the next fixed window of `ms`, so a burst falls into one window. */
async function windowStart(ms: number): Promise<void> {
  const left = ms - (Date.now() % ms);
  if (left < ms * 0.8) await new Promise((r) => setTimeout(r, left + 20));
}

describe('signaling rate limits (Redis-backed, shared by replicas)', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let a: TestSignaling;
  let b: TestSignaling;
  const clients: SignalingClient[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_RATE_WS_IDENTITY: '10/2s',
      SIGNALING_RATE_REST_CALLER: '6/2s',
      SIGNALING_RATE_JOIN_IDENTITY: '3/2s',
      SIGNALING_WS_MAX_INFLIGHT: '64',
    };
    // Two replicas on one Redis: the limits are shared.
    a = await startSignaling(env);
    b = await startSignaling(env);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await a?.close();
    await b?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  it('a WebSocket burst beyond the identity limit gets RATE_LIMITED with a retry time, across replicas; the next window is served', async () => {
    const token = await tokenFor(TENANTS.acme, `burst-${testRunId()}`, 'rl');
    const c1 = client(a, token);
    const c2 = client(b, token);
    clients.push(c1, c2);
    await Promise.all([c1.connect(), c2.connect()]);
    await windowStart(2000);
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? c1 : c2).request('ping', { t: i }).then(
          () => 'ok',
          (e: ProtocolError) => e,
        ),
      ),
    );
    const ok = outcomes.filter((o) => o === 'ok').length;
    const refused = outcomes.filter((o): o is ProtocolError => o instanceof ProtocolError);
    expect(ok).toBe(10);
    expect(refused).toHaveLength(6);
    for (const e of refused) {
      expect(e.code).toBe('RATE_LIMITED');
      expect(e.retryable).toBe(true);
      expect((e.details as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
      expect((e.details as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(2000);
    }
    const wait = Math.max(
      ...refused.map((e) => (e.details as { retryAfterMs: number }).retryAfterMs),
    );
    await new Promise((r) => setTimeout(r, wait + 50));
    const next = await Promise.all(
      Array.from({ length: 10 }, (_, i) => c1.request('ping', { t: i })),
    );
    expect(next).toHaveLength(10);
  });

  it('joins have their own, lower limit per identity', async () => {
    const identity = `joiner-${testRunId()}`;
    await windowStart(2000);
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      const c = client(a, await tokenFor(TENANTS.acme, identity, `jr-${i}`));
      clients.push(c);
      await c.connect();
      results.push(
        await c.join().then(
          () => 'ok',
          (e: ProtocolError) => e.code,
        ),
      );
    }
    expect(results).toEqual(['ok', 'ok', 'ok', 'RATE_LIMITED']);
  });

  it('a REST burst gets 429 with Retry-After; after it the calls are served again', async () => {
    const headers = { authorization: basicAuth(TENANTS.globex) };
    await windowStart(2000);
    const statuses: number[] = [];
    let retryAfter = '';
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${(i % 2 ? a : b).url}/v1/rooms`, { headers });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers.get('retry-after') ?? '';
        expect(await res.json()).toMatchObject({ code: 'RATE_LIMITED' });
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000 + 50));
    expect((await fetch(`${a.url}/v1/rooms`, { headers })).status).toBe(200);
  });
});
