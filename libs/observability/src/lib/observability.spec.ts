import { ROOT_CONTEXT, TraceFlags, context, propagation, trace } from '@opentelemetry/api';
import { TraceState, suppressTracing } from '@opentelemetry/core';
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
import {
  contextFromTraceFields,
  extractHeaders,
  initTracing,
  injectHeaders,
  inSpan,
  traceFields,
} from './tracing';

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

  it('traceFields() writes exactly what the installed propagators inject', async () => {
    await withCorrelationId('corr-tf', () =>
      inSpan('tf', {}, () => {
        const sc = trace.getSpanContext(context.active());
        if (!sc) throw new Error('no active span');
        const ctx = trace.setSpanContext(context.active(), {
          ...sc,
          traceState: new TraceState('vendor=a1,other=b2'),
        });
        const injected: Record<string, string> = {};
        propagation.inject(ctx, injected);
        expect(traceFields(ctx)).toEqual({
          traceparent: injected['traceparent'],
          tracestate: injected['tracestate'],
          correlationId: injected['x-correlation-id'],
        });
        expect(injected['traceparent']).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        return Promise.resolve();
      }),
    );
  });

  it('traceFields() omits traceparent without a valid span or when tracing is suppressed', () => {
    const ctx = setCorrelationId(ROOT_CONTEXT, 'c-2');
    expect(traceFields(ctx)).toEqual({ correlationId: 'c-2' });
    const span = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.NONE,
    });
    const spanCtx = trace.setSpan(ctx, span);
    expect(traceFields(spanCtx).traceparent).toBe(
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
    );
    expect(traceFields(suppressTracing(spanCtx))).toEqual({ correlationId: 'c-2' });
  });

  it('traceFields() never emits a value that could inject a header line', () => {
    const sc = {
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: TraceFlags.SAMPLED,
      // TraceState.set() does not validate what it stores.
      traceState: new TraceState().set('k', 'v\r\nx-evil: 1'),
    };
    const ctx = setCorrelationId(trace.setSpanContext(ROOT_CONTEXT, sc), 'bad\r\nid');
    const fields = traceFields(ctx);
    expect(fields.tracestate).toBeUndefined();
    expect(fields.correlationId).toBeUndefined();
    expect(fields.traceparent).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
  });

  it('contextFromTraceFields() restores what extractHeaders() does and ignores invalid input', () => {
    const headers = {
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'vendor=a1',
      'x-correlation-id': 'c-3',
    };
    const viaPropagator = extractHeaders(headers, ROOT_CONTEXT);
    const direct = contextFromTraceFields(ROOT_CONTEXT, {
      traceparent: headers.traceparent,
      tracestate: headers.tracestate,
      correlationId: headers['x-correlation-id'],
    });
    const a = trace.getSpanContext(direct);
    const b = trace.getSpanContext(viaPropagator);
    expect({ ...a, traceState: a?.traceState?.serialize() }).toEqual({
      ...b,
      traceState: b?.traceState?.serialize(),
    });
    expect(a?.isRemote).toBe(true);
    expect(getCorrelationId(direct)).toBe('c-3');

    for (const traceparent of [
      'garbage',
      '00-00000000000000000000000000000000-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
    ]) {
      const ctx = contextFromTraceFields(ROOT_CONTEXT, { traceparent, correlationId: 'a b' });
      expect(trace.getSpanContext(ctx)).toBeUndefined();
      expect(getCorrelationId(ctx)).toBeUndefined();
    }
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

  it('a line below the level is neither formatted nor written; raising the level at run time takes effect', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    const logger = createLogger({ service: 'svc', nodeId: 'n', level: 'info', stream });
    let formatted = 0;
    const meta = {
      get costly() {
        formatted++;
        return 1;
      },
    };
    logger.debug('method() | off', meta);
    logger.info('method() | on', { a: 1 });
    logger.level = 'debug';
    logger.debug('method() | now on', { b: 2 });
    await new Promise((r) => setImmediate(r));
    expect(formatted).toBe(0);
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual([
      'method() | on',
      'method() | now on',
    ]);
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
