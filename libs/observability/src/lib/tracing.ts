import {
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type SpanKind,
  SpanStatusCode,
  TraceFlags,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  CompositePropagator,
  TraceState,
  W3CTraceContextPropagator,
  isTracingSuppressed,
  parseTraceParent,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  CorrelationIdPropagator,
  getCorrelationId,
  isValidCorrelationId,
  setCorrelationId,
} from './correlation';

/** Options of {@link initTracing}. */
export interface TracingOptions {
  serviceName: string;
  serviceVersion: string;
  nodeId: string;
  /**
   * OTLP/HTTP base URL. Traces go to `<url>/v1/traces` explicitly, so metrics and logs are never
   * sent to a traces endpoint by accident. Unset: spans are created (ids still flow into logs and
   * headers) but not exported.
   */
  otlpEndpoint?: string;
  /** Milliseconds between export batches. */
  batchDelayMs?: number;
  /** Extra exporter (tests use an in-memory one). */
  exporter?: SpanExporter;
  /** How the extra exporter is fed: `simple` (each span at once; tests) or `batch` (as in production). */
  exporterMode?: 'simple' | 'batch';
}

/** Handle returned by {@link initTracing}. */
export interface Tracing {
  provider: NodeTracerProvider;
  /** Flushes pending spans. */
  flush(): Promise<void>;
  /** Flushes and stops exporting. */
  shutdown(): Promise<void>;
}

let installed: Tracing | undefined;

/**
 * Installs the global tracer provider, context manager (AsyncLocalStorage) and propagators (W3C
 * trace context + correlation id). Idempotent per process: a second call returns the first
 * installation, because OTel's globals can be set once.
 */
export function initTracing(opts: TracingOptions): Tracing {
  if (installed) return installed;
  const processors: SpanProcessor[] = [];
  if (opts.otlpEndpoint) {
    const url = `${opts.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
    processors.push(
      new BatchSpanProcessor(new OTLPTraceExporter({ url }), {
        scheduledDelayMillis: opts.batchDelayMs ?? 2000,
      }),
    );
  }
  if (opts.exporter) {
    processors.push(
      opts.exporterMode === 'batch'
        ? new BatchSpanProcessor(opts.exporter, { scheduledDelayMillis: opts.batchDelayMs ?? 2000 })
        : new SimpleSpanProcessor(opts.exporter),
    );
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: opts.serviceName,
      [ATTR_SERVICE_VERSION]: opts.serviceVersion,
      'service.instance.id': opts.nodeId,
    }),
    spanProcessors: processors,
  });
  provider.register({
    contextManager: new AsyncLocalStorageContextManager(),
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new CorrelationIdPropagator()],
    }),
  });
  installed = {
    provider,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      installed = undefined;
    },
  };
  return installed;
}

let cachedTracer: ReturnType<typeof trace.getTracer> | undefined;

/** The tracer Parley code uses (cached: it is looked up on every message). */
export function tracer() {
  return (cachedTracer ??= trace.getTracer('parley'));
}

/** Injects trace context and correlation id into a plain header record. */
export function injectHeaders(
  headers: Record<string, string> = {},
  ctx: Context = context.active(),
): Record<string, string> {
  propagation.inject(ctx, headers);
  return headers;
}

/** Extracts trace context and correlation id from a plain header record. */
export function extractHeaders(
  headers: Record<string, string | string[] | undefined>,
  ctx: Context = context.active(),
): Context {
  return propagation.extract(ctx, headers);
}

/**
 * The propagated fields of a context as header values: W3C `traceparent`/`tracestate` and the
 * correlation id. {@link traceFields} and {@link contextFromTraceFields} write and read exactly
 * what the propagators installed by {@link initTracing} do, without a carrier getter/setter call
 * per key; hot paths (every NATS message) use them instead of `propagation.inject/extract`.
 */
export interface TraceFields {
  /** W3C `traceparent`; absent when there is no valid span context or tracing is suppressed. */
  traceparent?: string;
  /** W3C `tracestate`, when the span context carries one. */
  tracestate?: string;
  /** `x-correlation-id`, when the context carries a valid one. */
  correlationId?: string;
}

// Printable ASCII only: a tracestate built in process (TraceState.set does not validate) must not
// be able to inject a header line.
const HEADER_SAFE = /^[\x20-\x7e]{1,512}$/;

/**
 * The fields of `ctx` to put in a message's headers (see {@link TraceFields}). `sc` and
 * `correlationId` override what `ctx` holds (a span just started under `ctx`, an id chosen for
 * this message), so a caller need not build a context only to have them read back.
 */
export function traceFields(
  ctx: Context = context.active(),
  sc: SpanContext | undefined = trace.getSpanContext(ctx),
  correlationId: string | undefined = getCorrelationId(ctx),
): TraceFields {
  const out: TraceFields = {};
  if (sc && isSpanContextValid(sc) && !isTracingSuppressed(ctx)) {
    // Same format as W3CTraceContextPropagator: version 00, lowercase hex ids, two-digit flags.
    const flags = (sc.traceFlags || TraceFlags.NONE) & 0xff;
    out.traceparent = `00-${sc.traceId}-${sc.spanId}-${flags < 16 ? '0' : ''}${flags.toString(16)}`;
    const state = sc.traceState?.serialize();
    if (state && HEADER_SAFE.test(state)) out.tracestate = state;
  }
  if (isValidCorrelationId(correlationId)) out.correlationId = correlationId;
  return out;
}

/**
 * `ctx` extended with what arrived in headers: a remote span context when `traceparent` is valid
 * W3C (parsed by the W3C propagator's own parser; invalid values are ignored), its `tracestate`,
 * and the correlation id when it is valid.
 */
export function contextFromTraceFields(ctx: Context, fields: TraceFields): Context {
  if (fields.traceparent) {
    const sc = parseTraceParent(fields.traceparent);
    if (sc) {
      sc.isRemote = true;
      if (fields.tracestate) sc.traceState = new TraceState(fields.tracestate);
      ctx = trace.setSpanContext(ctx, sc);
    }
  }
  return isValidCorrelationId(fields.correlationId)
    ? setCorrelationId(ctx, fields.correlationId)
    : ctx;
}

/**
 * Runs `fn` inside a new active span; records exceptions, sets the status and ends the span when
 * the promise settles.
 */
export async function inSpan<T>(
  name: string,
  opts: { kind?: SpanKind; attributes?: Attributes; parent?: Context },
  fn: (span: Span) => Promise<T> | T,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  const span = tracer().startSpan(name, { kind: opts.kind, attributes: opts.attributes }, parent);
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (err) {
    recordError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Marks a span failed with an error. */
export function recordError(span: Span, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  span.recordException(e);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') span.setAttribute('parley.error_code', code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: e.message });
}
