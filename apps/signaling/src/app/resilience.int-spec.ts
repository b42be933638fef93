import { ProtocolError, type SignalingClient } from '@parley/client';
import { WS_CLOSE, type WsNotificationData } from '@parley/contracts';
import {
  type PrivateServer,
  eventually,
  startNatsServer,
  startRedisServer,
  testRunId,
} from '@parley/testing';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  client,
  joined,
  startSignaling,
  tokenFor,
} from '../test-support/harness';

describe('signaling resilience', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
  });

  afterAll(async () => {
    await sfu?.stop();
    await nats?.dispose();
  });

  it('survives a Redis restart: stays up, reports not ready while Redis is gone, serves again after it returns', async () => {
    const redis = await startRedisServer();
    const sig = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'rs:',
    });
    const clients: SignalingClient[] = [];
    try {
      await eventually(async () => (await fetch(`${sig.url}/ready`)).status === 200);
      const before = await joined(sig, TENANTS.acme, 'early', 'redis-room');
      clients.push(before.client);

      await redis.stop();
      const notReady = await eventually(async () => {
        const res = await fetch(`${sig.url}/ready`);
        return res.status === 503
          ? ((await res.json()) as {
              checks: Array<{ name: string; ok: boolean; reason?: string }>;
            })
          : undefined;
      });
      expect(notReady.checks.find((c) => c.name === 'redis')).toMatchObject({
        ok: false,
        reason: expect.stringMatching(/redis/),
      });
      expect((await fetch(`${sig.url}/health`)).status).toBe(200);
      const rest = await fetch(`${sig.url}/v1/rooms`, {
        headers: { authorization: basicAuth(TENANTS.acme) },
      });
      expect(rest.status).toBe(503);
      expect(await rest.json()).toMatchObject({ code: 'UNAVAILABLE' });
      // The WebSocket still answers: pings work (limits counted in memory), joins say UNAVAILABLE.
      const during = client(sig, await tokenFor(TENANTS.acme, 'during', 'redis-room'));
      clients.push(during);
      await during.connect();
      expect((await during.request('ping', {})).serverTime).toBeGreaterThan(0);
      const err = await during.join().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).code).toBe('UNAVAILABLE');
      expect((err as ProtocolError).retryable).toBe(true);
      // A socket dropping while Redis is down does not crash anything.
      before.client.close(4000, 'drop during outage');

      await redis.restart();
      await eventually(async () => (await fetch(`${sig.url}/ready`)).status === 200, 15_000);
      const after = await fetch(`${sig.url}/v1/rooms`, {
        headers: { authorization: basicAuth(TENANTS.acme) },
      });
      expect(after.status).toBe(200);
      const j = await during.join();
      expect(j.room).toBe('redis-room');
    } finally {
      for (const c of clients) c.close();
      await sig.close();
      await redis.dispose();
    }
  });

  it('a request past its deadline is answered TIMEOUT, and what the slow SFU created afterwards is undone', async () => {
    const sig = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_REQUEST_TIMEOUT_MS: '300',
      SIGNALING_SFU_TIMEOUT_MS: '3000',
    });
    const c = client(sig, await tokenFor(TENANTS.acme, 'slowpoke', `slow-${testRunId()}`));
    try {
      await c.connect();
      await c.join();
      sfu.delayMs = 800;
      const started = Date.now();
      const err = await c
        .request('createTransport', { direction: 'recv' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TIMEOUT', retryable: true });
      expect(Date.now() - started).toBeLessThan(700);
      sfu.delayMs = 0;
      // The SFU created the transport after all; signaling closes it and does not count it.
      await eventually(() => sfu.calls.some((x) => x.subject === 'sfu.transport.close'), 5000);
      for (let i = 0; i < 4; i++) await c.request('createTransport', { direction: 'recv' });
      const fifth = await c
        .request('createTransport', { direction: 'recv' })
        .catch((e: unknown) => e);
      expect(fifth).toMatchObject({ code: 'CONFLICT' });
    } finally {
      sfu.delayMs = 0;
      c.close();
      await sig.close();
    }
  });

  it('a graceful shutdown tells clients to reconnect (1012) and keeps their sessions: a new instance resumes them', async () => {
    const env = {
      NATS_URL: nats.url,
      REDIS_URL: process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_RECONNECT_GRACE_S: '20',
    };
    const first = await startSignaling(env);
    const a = await joined(first, TENANTS.acme, 'survivor', 'restart-room');
    await a.client.request('createTransport', { direction: 'recv' });
    const notes: Array<WsNotificationData<'reconnectRequired'>> = [];
    a.client.on('reconnectRequired', (n) => notes.push(n));
    const closed = new Promise<{ code: number }>((resolve) => a.client.once('close', resolve));
    await first.close();
    expect((await closed).code).toBe(WS_CLOSE.serviceRestart);
    expect(notes).toEqual([{ reason: 'shutdown', retryAfterMs: 1000 }]);

    // The client keeps retrying; a new instance on the same port takes over.
    const port = new URL(first.url).port;
    const second = await startSignaling({ ...env, SIGNALING_HTTP_PORT: port });
    try {
      const again = await new Promise<Awaited<ReturnType<SignalingClient['join']>>>((resolve) =>
        a.client.once('reconnected', resolve),
      );
      expect(again).toMatchObject({ resumed: true, peerId: a.join.peerId });
      expect(again.transports).toHaveLength(1);
    } finally {
      a.client.close();
      await second.close();
    }
  });
});
