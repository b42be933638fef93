import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
} from '@opentelemetry/api';
import {
  CORRELATION_HEADER,
  type Logger,
  type Metrics,
  getCorrelationId,
  isValidCorrelationId,
  newCorrelationId,
  setCorrelationId,
  tracer,
} from '@parley/observability';

const QUIET = new Set(['/health', '/ready', '/metrics']);

/**
 * Express middleware: extracts W3C trace context and `x-correlation-id` (a new id when absent or
 * invalid), starts a SERVER span the handler runs in, echoes the correlation id in the response,
 * records the duration histogram and writes an access log line.
 */
export function httpTelemetry(logger: Logger, metrics: Metrics) {
  return (
    req: IncomingMessage & { route?: { path?: string }; baseUrl?: string },
    res: ServerResponse,
    next: () => void,
  ): void => {
    const started = performance.now();
    let parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const given = req.headers[CORRELATION_HEADER];
    const correlationId = isValidCorrelationId(given)
      ? given
      : (getCorrelationId(parent) ?? newCorrelationId());
    parent = setCorrelationId(parent, correlationId);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const span = tracer().startSpan(
      `${req.method} ${path}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': req.method ?? '',
          'url.path': path,
          'parley.correlation_id': correlationId,
        },
      },
      parent,
    );
    const ctx = trace.setSpan(parent, span);
    res.setHeader(CORRELATION_HEADER, correlationId);
    res.on('finish', () => {
      const route = req.route?.path
        ? `${req.baseUrl ?? ''}${req.route.path}`
        : QUIET.has(path)
          ? path
          : 'unmatched';
      span.updateName(`${req.method} ${route}`);
      span.setAttribute('http.route', route);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      const seconds = (performance.now() - started) / 1000;
      metrics.httpDuration.observe(
        { method: req.method ?? '', route, status: String(res.statusCode) },
        seconds,
      );
      context.with(ctx, () =>
        logger.log(QUIET.has(path) ? 'debug' : 'http', 'http() | request served', {
          method: req.method,
          path,
          status: res.statusCode,
          duration_ms: Math.round(seconds * 1e4) / 10,
        }),
      );
    });
    // Bind the emitters so body-parsing callbacks keep the request's context.
    context.bind(ctx, req);
    context.bind(ctx, res);
    context.with(ctx, next);
  };
}
