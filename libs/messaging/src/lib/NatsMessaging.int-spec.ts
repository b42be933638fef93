import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { defineEvent, defineRequest } from '@parley/contracts';
import { Metrics, createLogger, initTracing, withCorrelationId } from '@parley/observability';
import { eventually, testRunId } from '@parley/testing';
import { type Msg, connect, headers as natsHeaders } from 'nats';
import { z } from 'zod';
import { encodeJson, decodeJson, readTraceFields, traceFieldsOf, traceHeaders } from './codec';
import { MessagingError } from './errors';
import { NatsMessaging } from './NatsMessaging';

const NATS = process.env['PARLEY_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const exporter = new InMemorySpanExporter();
initTracing({ serviceName: 'int', serviceVersion: '0', nodeId: 'n', exporter });

const run = testRunId();
const add = defineRequest({
  subject: `test.${run}.math.add`,
  request: z.object({ a: z.number(), b: z.number() }).strict(),
  response: z.object({ sum: z.number() }),
  timeoutMs: 2000,
  description: 'adds',
});
const slow = defineRequest({
  subject: `test.${run}.slow`,
  request: z.object({}),
  response: z.object({}),
  timeoutMs: 200,
  description: 'never answers in time',
});
const liar = defineRequest({
  subject: `test.${run}.liar`,
  request: z.object({}),
  response: z.object({ n: z.number() }),
  description: 'answers off-contract',
});
const nobody = defineRequest({
  subject: `test.${run}.nobody`,
  request: z.object({}),
  response: z.object({}),
  description: 'unserved',
});
const whoami = defineRequest({
  subject: `test.${run}.whoami`,
  request: z.object({}),
  response: z.object({ correlationId: z.string(), traceparent: z.string().optional() }),
  description: 'echoes what the handler saw',
});
const happened = defineEvent({
  subject: `test.${run}.thing.happened`,
  payload: z.object({ id: z.string() }),
  description: 'event',
});

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n'))
        if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

describe('NatsMessaging (real NATS)', () => {
  const serverLog = capture();
  const server = new NatsMessaging({
    servers: [NATS],
    name: 'server',
    queue: 'test',
    logger: createLogger({ service: 'server', nodeId: 's', stream: serverLog.stream }),
    metrics: new Metrics('server', 's'),
  });
  const client = new NatsMessaging({
    servers: [NATS],
    name: 'client',
    queue: 'test',
    logger: createLogger({ service: 'client', nodeId: 'c', stream: capture().stream }),
  });

  beforeAll(async () => {
    server.serve(add, ({ a, b }) => ({ sum: a + b }));
    server.serve(slow, () => new Promise((r) => setTimeout(() => r({}), 1000)));
    server.serve(liar, () => ({ n: 'not a number' }) as never);
    server.serve(whoami, (_req, meta) => ({
      correlationId: meta.correlationId,
      traceparent: meta.headers?.get('traceparent') || undefined,
    }));
    server.start();
    client.start();
    await Promise.all([server.waitUntilConnected(), client.waitUntilConnected()]);
    await server.connection.flush();
  });
  afterAll(async () => {
    await client.close();
    await server.close();
  });

  it('request() returns the validated response', async () => {
    await expect(client.request(add, { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
  });

  it('request() refuses an invalid payload locally with BAD_REQUEST', async () => {
    await expect(client.request(add, { a: 'x' } as never)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      remote: false,
    });
  });

  it('a payload that fails the schema gets a BAD_REQUEST reply and a log line, and the server keeps serving', async () => {
    const nc = await connect({ servers: NATS });
    const reply = decodeJson(
      (
        await nc.request(add.subject, encodeJson({ a: 1, b: 'two', extra: true }), {
          timeout: 2000,
        })
      ).data,
    );
    expect(reply).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const garbage = decodeJson(
      (await nc.request(add.subject, new TextEncoder().encode('{not json'), { timeout: 2000 }))
        .data,
    );
    expect(garbage).toMatchObject({
      ok: false,
      error: { code: 'BAD_REQUEST', message: 'payload is not valid JSON' },
    });
    await nc.close();
    await eventually(() =>
      serverLog.lines.some(
        (l) => l['msg'] === 'serve() | request failed' && l['code'] === 'BAD_REQUEST',
      ),
    );
    await expect(client.request(add, { a: 1, b: 1 })).resolves.toEqual({ sum: 2 });
  });

  it('concurrent requests each get their own reply', async () => {
    const sums = await Promise.all(
      Array.from({ length: 50 }, (_, i) => client.request(add, { a: i, b: 1000 })),
    );
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => ({ sum: i + 1000 })));
  });

  it('close() fails pending requests with UNAVAILABLE, and later requests too', async () => {
    const other = new NatsMessaging({
      servers: [NATS],
      name: 'closing-client',
      queue: 'test',
      logger: createLogger({ service: 'closing', nodeId: 'c', stream: capture().stream }),
    });
    other.start();
    await other.waitUntilConnected();
    const t0 = Date.now();
    const pending = other.request(slow, {}, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    await other.close();
    expect(await pending).toMatchObject({ code: 'UNAVAILABLE', retryable: true });
    expect(Date.now() - t0).toBeLessThan(5_000);
    await expect(other.request(add, { a: 1, b: 1 })).rejects.toMatchObject({
      code: 'UNAVAILABLE',
    });
  });

  it('request() turns a missed deadline into a retryable TIMEOUT', async () => {
    const err = await client.request(slow, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MessagingError);
    expect(err).toMatchObject({ code: 'TIMEOUT', retryable: true });
  });

  it('request() reports NO_RESPONDERS when nobody serves the subject', async () => {
    await expect(client.request(nobody, {})).rejects.toMatchObject({
      code: 'NO_RESPONDERS',
      retryable: true,
    });
  });

  it('a handler answering off-contract yields INTERNAL, not bad data', async () => {
    await expect(client.request(liar, {})).rejects.toMatchObject({
      code: 'INTERNAL',
      remote: true,
    });
  });

  it('the server span is a child of the client span and shares the correlation id', async () => {
    exporter.reset();
    await withCorrelationId('corr-int-1', () => client.request(add, { a: 1, b: 2 }));
    await eventually(() => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER));
    const spans = exporter.getFinishedSpans();
    const c = spans.find((s) => s.kind === SpanKind.CLIENT && s.name.startsWith(add.subject));
    const s = spans.find((x) => x.kind === SpanKind.SERVER && x.name.startsWith(add.subject));
    expect(s?.spanContext().traceId).toBe(c?.spanContext().traceId);
    expect(s?.parentSpanContext?.spanId).toBe(c?.spanContext().spanId);
    expect(s?.attributes['parley.correlation_id']).toBe('corr-int-1');
  });

  it("a handler sees the caller's correlation id and trace context in its meta", async () => {
    const seen = await withCorrelationId('corr-int-2', () => client.request(whoami, {}));
    expect(seen.correlationId).toBe('corr-int-2');
    expect(seen.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // Without a correlation id in the context, the request still carries one.
    const fresh = await client.request(whoami, {});
    expect(fresh.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a foreign caller's traceparent and correlation id are honoured, bad ones replaced", async () => {
    const nc = await connect({ servers: NATS });
    const ask = async (h: Record<string, string>) => {
      const headers = natsHeaders();
      for (const [k, v] of Object.entries(h)) headers.set(k, v);
      const reply = decodeJson(
        (await nc.request(whoami.subject, encodeJson({}), { timeout: 2000, headers })).data,
      ) as { data: { correlationId: string } };
      return reply.data.correlationId;
    };
    exporter.reset();
    expect(
      await ask({
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'x-correlation-id': 'foreign-1',
      }),
    ).toBe('foreign-1');
    await eventually(() =>
      exporter
        .getFinishedSpans()
        .some((s) => s.spanContext().traceId === '0af7651916cd43dd8448eb211c80319c'),
    );
    const s = exporter
      .getFinishedSpans()
      .find((x) => x.spanContext().traceId === '0af7651916cd43dd8448eb211c80319c');
    expect(s?.kind).toBe(SpanKind.SERVER);
    expect(s?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(s?.parentSpanContext?.isRemote).toBe(true);
    const replaced = await ask({ traceparent: 'nonsense', 'x-correlation-id': 'has space' });
    expect(replaced).not.toBe('has space');
    expect(replaced).toMatch(/^[0-9a-f-]{36}$/);
    await nc.close();
  });

  it('trace fields are read from the raw header block without decoding MsgHdrs', async () => {
    const nc = await connect({ servers: NATS });
    const subject = `test.${run}.rawhdr`;
    const got: Array<{ fast: unknown; decodedBefore: boolean; viaHeaders: unknown }> = [];
    nc.subscribe(subject, {
      callback: (_e, m: Msg) => {
        const fast = traceFieldsOf(m);
        const decodedBefore = (m as unknown as { _headers?: unknown })._headers !== undefined;
        got.push({ fast, decodedBefore, viaHeaders: readTraceFields(m.headers) });
      },
    });
    const fields = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'v=1',
      correlationId: 'c-raw',
    };
    nc.publish(subject, encodeJson({}), { headers: traceHeaders(fields) });
    nc.publish(subject, encodeJson({}));
    await eventually(() => got.length === 2);
    expect(got[0]).toEqual({ fast: fields, decodedBefore: false, viaHeaders: fields });
    expect(got[1]).toEqual({ fast: {}, decodedBefore: false, viaHeaders: {} });
    await nc.close();
  });

  it('subscribe() delivers valid events and drops invalid ones', async () => {
    const got: string[] = [];
    const correlation: string[] = [];
    const off = client.subscribe(happened, (p, meta) => {
      got.push(p.id);
      correlation.push(meta.correlationId);
    });
    await client.connection.flush();
    withCorrelationId('corr-ev', () => server.publish(happened, { id: 'e1' }));
    server.connection.publish(happened.subject, encodeJson({ id: 42 }));
    server.publish(happened, { id: 'e2' });
    await eventually(() => got.length === 2);
    expect(got).toEqual(['e1', 'e2']);
    expect(correlation[0]).toBe('corr-ev');
    off();
  });
});
