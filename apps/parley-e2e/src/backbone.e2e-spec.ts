import { SERVICE_NAMES } from '@parley/contracts';
import {
  OtlpReceiver,
  type ServiceProcess,
  eventually,
  freePort,
  spawnService,
  testRunId,
  waitForHttp,
} from '@parley/testing';

const NATS = process.env['PARLEY_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT_VAR: Record<string, string> = {
  signaling: 'SIGNALING_HTTP_PORT',
  sfu: 'SFU_HTTP_PORT',
  stt: 'STT_HTTP_PORT',
  'stt-worker': 'STT_WORKER_HTTP_PORT',
  tts: 'TTS_HTTP_PORT',
};

describe('backbone across processes', () => {
  const receiver = new OtlpReceiver();
  const procs: ServiceProcess[] = [];
  const urls: Record<string, string> = {};
  const run = testRunId();

  beforeAll(async () => {
    await receiver.start();
    for (const name of ['signaling', 'sfu'] as const) {
      const port = await freePort();
      const p = spawnService(name, {
        NATS_URL: NATS,
        REDIS_URL: REDIS,
        REDIS_KEY_PREFIX: `${run}:`,
        [PORT_VAR[name] ?? '']: String(port),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: '100',
        LOG_LEVEL: 'debug',
        PARLEY_NODE_ID: `${name}-${run}`,
      });
      procs.push(p);
      urls[name] = `http://127.0.0.1:${port}`;
    }
    await Promise.all(Object.values(urls).map((u) => waitForHttp(`${u}/ready`, 200, 60_000)));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await receiver.stop();
  });

  it("one trace crosses HTTP -> NATS: the sfu span is a child of signaling's request span, and both logs carry the correlation id", async () => {
    const correlationId = `e2e-${run}`;
    const res = await fetch(`${urls['signaling']}/v1/status`, {
      headers: { 'x-correlation-id': correlationId },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-correlation-id')).toBe(correlationId);
    const body = (await res.json()) as {
      services: Array<{ service: string; reachable: boolean; nodeId?: string }>;
    };
    expect(body.services.find((s) => s.service === 'sfu')).toMatchObject({
      reachable: true,
      nodeId: `sfu-${run}`,
    });

    const serverSpan = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.service === 'sfu' &&
            s.name === 'sfu.node.describe process' &&
            s.attributes['parley.correlation_id'] === correlationId,
        ),
      15_000,
    );
    // Each service exports on its own schedule: wait for the caller's span too.
    const clientSpan = await eventually(
      () =>
        receiver.spans.find(
          (s) => s.service === 'signaling' && s.spanId === serverSpan.parentSpanId,
        ),
      15_000,
    );
    expect(clientSpan.name).toBe('sfu.node.describe request');
    expect(clientSpan.traceId).toBe(serverSpan.traceId);
    const httpSpan = await eventually(
      () =>
        receiver.spans.find(
          (s) => s.service === 'signaling' && s.spanId === clientSpan.parentSpanId,
        ),
      5000,
    );
    expect(httpSpan.name).toBe('GET /v1/status');

    const [sig, sfu] = procs;
    await eventually(
      () =>
        sfu?.logs.some(
          (l) => l['correlation_id'] === correlationId && l['trace_id'] === serverSpan.traceId,
        ),
      5000,
    );
    await eventually(
      () =>
        sig?.logs.some(
          (l) => l['correlation_id'] === correlationId && l['trace_id'] === serverSpan.traceId,
        ),
      5000,
    );
  });

  it('every app boots, and serves /health, /ready and /metrics on its own port', async () => {
    const others = SERVICE_NAMES.filter((s) => !(s in urls));
    const extra: ServiceProcess[] = [];
    try {
      for (const name of others) {
        const port = await freePort();
        extra.push(
          spawnService(name, {
            NATS_URL: NATS,
            REDIS_URL: REDIS,
            REDIS_KEY_PREFIX: `${run}:`,
            [PORT_VAR[name] ?? '']: String(port),
            LOG_LEVEL: 'warn',
          }),
        );
        urls[name] = `http://127.0.0.1:${port}`;
      }
      for (const name of SERVICE_NAMES) {
        await waitForHttp(`${urls[name]}/ready`, 200, 60_000);
        // stt's /health is whisper.cpp's (ok only once a worker has its model: stt.e2e-spec.ts).
        const health = (await (await fetch(`${urls[name]}/health`)).json()) as Record<
          string,
          unknown
        >;
        expect(health).toMatchObject(
          name === 'stt' ? { service: name } : { status: 'ok', service: name },
        );
        expect(await (await fetch(`${urls[name]}/metrics`)).text()).toContain(`service="${name}"`);
      }
      const status = (await (await fetch(`${urls['signaling']}/v1/status`)).json()) as {
        services: Array<{ reachable: boolean }>;
      };
      expect(status.services.every((s) => s.reachable)).toBe(true);
    } finally {
      await Promise.all(extra.map((p) => p.stop()));
    }
  });

  it('invalid config exits non-zero and lists every problem', async () => {
    const p = spawnService('sfu', {
      NATS_URL: 'http://nope',
      SFU_HTTP_PORT: 'abc',
      LOG_LEVEL: 'chatty',
      SFU_LISTEN_IP: '999.1.1.1',
    });
    const code = await p.exited;
    expect(code).toBe(2);
    const out = p.text.join('\n');
    expect(out).toMatch(/4 problems/);
    for (const v of ['NATS_URL', 'SFU_HTTP_PORT', 'LOG_LEVEL', 'SFU_LISTEN_IP'])
      expect(out).toContain(v);
  });
});
