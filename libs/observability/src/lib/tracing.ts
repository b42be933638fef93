import {
  type Attributes,
  type Context,
  type Span,
  type SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
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
import { CorrelationIdPropagator } from './correlation';

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
