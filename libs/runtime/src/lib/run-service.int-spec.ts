import { Writable } from 'node:stream';
import { Module } from '@nestjs/common';
import { signalingEnv } from '@parley/config';
import { type PrivateServer, eventually, startNatsServer, startRedisServer } from '@parley/testing';
import { type RunningService, runService } from './run-service';

@Module({})
class EmptyModule {}

const quiet = () => new Writable({ write: (_c, _e, cb) => cb() });

async function readiness(url: string): Promise<{
  status: number;
  body: { ready: boolean; checks: Array<{ name: string; ok: boolean; reason?: string }> };
}> {
  const res = await fetch(`${url}/ready`);
  return { status: res.status, body: (await res.json()) as never };
}

describe('runService() readiness (private nats-server and redis-server)', () => {
  let nats: PrivateServer;
  let redis: PrivateServer;
  let svc: RunningService;

  beforeAll(async () => {
    [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
    svc = await runService(
      {
        service: 'signaling',
        envSchema: signalingEnv,
        module: EmptyModule,
        http: () => ({ host: '127.0.0.1', port: 0 }),
        redis: (c) => ({ url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX }),
      },
      {
        env: { NATS_URL: nats.url, REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
        logStream: quiet(),
        noSignalHandlers: true,
      },
    );
    await eventually(async () => (await readiness(svc.url)).status === 200, 10_000);
  });

  afterAll(async () => {
    await svc?.close();
    await Promise.all([nats?.dispose(), redis?.dispose()]);
  });

  it('/health answers while dependencies are up', async () => {
    const res = await fetch(`${svc.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', service: 'signaling' });
  });

  it('/ready turns 503 with a reason when NATS goes away and 200 when it returns', async () => {
    await nats.stop();
    const down = await eventually(async () => {
      const r = await readiness(svc.url);
      return r.status === 503 ? r : undefined;
    }, 15_000);
    const check = down.body.checks.find((c) => c.name === 'nats');
    expect(check?.ok).toBe(false);
    expect(check?.reason).toMatch(/disconnected/);
    await nats.restart();
    await eventually(async () => (await readiness(svc.url)).status === 200, 20_000);
  });

  it('/ready turns 503 while Redis is gone, and the service serves again after it returns', async () => {
    await redis.stop();
    const down = await eventually(async () => {
      const r = await readiness(svc.url);
      return r.status === 503 ? r : undefined;
    }, 15_000);
    expect(down.body.checks.find((c) => c.name === 'redis')).toMatchObject({ ok: false });
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    await redis.restart();
    await eventually(async () => (await readiness(svc.url)).status === 200, 20_000);
  });

  it('/metrics exposes process metrics and the HTTP histogram', async () => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('parley_http_request_duration_seconds_bucket');
    expect(text).toContain('parley_nats_request_duration_seconds');
  });

  it('unknown routes and malformed bodies get { code, message }', async () => {
    const res = await fetch(`${svc.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ code: 'NOT_FOUND', message: 'Cannot GET /nope' });
  });
});
