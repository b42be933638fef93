import { ROOT_CONTEXT, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Writable } from 'node:stream';
import {
  CorrelationIdPropagator,
  getCorrelationId,
  isValidCorrelationId,
  setCorrelationId,
  withCorrelationId,
} from './correlation';
import { HealthRegistry } from './health';
import { createLogger } from './logger';
import { extractHeaders, initTracing, injectHeaders, inSpan } from './tracing';

const exporter = new InMemorySpanExporter();
initTracing({ serviceName: 'unit', serviceVersion: '0', nodeId: 'n1', exporter });

describe('correlation ids', () => {
  it('rejects ids that could inject headers or grow without bound', () => {
    expect(isValidCorrelationId('abc-123')).toBe(true);
    expect(isValidCorrelationId('a\nb')).toBe(false);
    expect(isValidCorrelationId('x'.repeat(200))).toBe(false);
    expect(isValidCorrelationId(undefined)).toBe(false);
  });

  it('CorrelationIdPropagator round-trips through a carrier', () => {
    const p = new CorrelationIdPropagator();
    const carrier: Record<string, string> = {};
    p.inject(setCorrelationId(ROOT_CONTEXT, 'c-1'), carrier, {
      set: (c, k, v) => ((c as Record<string, string>)[k] = v),
    });
    expect(carrier['x-correlation-id']).toBe('c-1');
    const ctx = p.extract(ROOT_CONTEXT, carrier, {
      get: (c, k) => (c as Record<string, string>)[k],
      keys: (c) => Object.keys(c as object),
    });
    expect(getCorrelationId(ctx)).toBe('c-1');
  });
});

describe('tracing', () => {
  it('injectHeaders() carries traceparent and correlation id that extractHeaders() restores', async () => {
    await withCorrelationId('corr-9', () =>
      inSpan('outer', {}, async (span) => {
        const headers = injectHeaders();
        expect(headers['traceparent']).toContain(span.spanContext().traceId);
        const ctx = extractHeaders(headers, ROOT_CONTEXT);
        expect(trace.getSpanContext(ctx)?.spanId).toBe(span.spanContext().spanId);
        expect(getCorrelationId(ctx)).toBe('corr-9');
      }),
    );
    expect(propagation.fields()).toEqual(
      expect.arrayContaining(['traceparent', 'x-correlation-id']),
    );
  });

  it('inSpan() records a failed span and rethrows', async () => {
    exporter.reset();
    await expect(
      inSpan('boom', {}, () =>
        Promise.reject(Object.assign(new Error('no'), { code: 'X_FAILED' })),
      ),
    ).rejects.toThrow('no');
    const s = exporter.getFinishedSpans().find((x) => x.name === 'boom');
    expect(s?.status.code).toBe(2);
    expect(s?.attributes['parley.error_code']).toBe('X_FAILED');
  });
});

describe('createLogger()', () => {
  it('writes JSON lines with service, msg, trace_id, span_id and correlation_id', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = createLogger({ service: 'svc', nodeId: 'n', stream });
    await withCorrelationId('corr-log', () =>
      inSpan('logging', {}, (span) => {
        logger.info('method() | happened', { roomId: 'r1' });
        return span.spanContext();
      }),
    );
    await new Promise((r) => setImmediate(r));
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    expect(line).toMatchObject({
      service: 'svc',
      level: 'info',
      msg: 'method() | happened',
      roomId: 'r1',
      correlation_id: 'corr-log',
    });
    expect(line['trace_id']).toMatch(/^[0-9a-f]{32}$/);
    expect(line['span_id']).toMatch(/^[0-9a-f]{16}$/);
    expect(context.active()).toBe(ROOT_CONTEXT);
  });
});

describe('HealthRegistry', () => {
  it('is ready only when every check passes, with the failing reason', async () => {
    const h = new HealthRegistry(50);
    h.register('a', () => ({ ok: true }));
    h.register('b', () => ({ ok: false, reason: 'down' }));
    h.register('c', () => new Promise(() => undefined));
    h.register('d', () => {
      throw new Error('thrown');
    });
    const r = await h.readiness();
    expect(r.ready).toBe(false);
    expect(r.checks).toEqual([
      { name: 'a', ok: true },
      { name: 'b', ok: false, reason: 'down' },
      { name: 'c', ok: false, reason: 'check timed out after 50 ms' },
      { name: 'd', ok: false, reason: 'thrown' },
    ]);
  });
});
