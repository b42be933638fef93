import { context, trace } from '@opentelemetry/api';
import winston from 'winston';
import { getCorrelationId } from './correlation';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  service: string;
  nodeId: string;
  level?: string;
  /** Destination stream (default stdout). */
  stream?: NodeJS.WritableStream;
}

/** Adds trace_id, span_id and correlation_id from the active OTel context to every line. */
const traceFields = winston.format((info) => {
  const span = trace.getSpan(context.active());
  const sc = span?.spanContext();
  if (sc && trace.isSpanContextValid(sc)) {
    info['trace_id'] = sc.traceId;
    info['span_id'] = sc.spanId;
  }
  const correlationId = getCorrelationId();
  if (correlationId && info['correlation_id'] === undefined) info['correlation_id'] = correlationId;
  return info;
});

/** Renames winston's `message` to `msg`, keeps errors readable, and orders the common fields first. */
const shape = winston.format((info) => {
  const { level, message, timestamp, service, ...rest } = info as Record<string, unknown>;
  const out: Record<string, unknown> = { time: timestamp, level, service, msg: message };
  for (const [k, v] of Object.entries(rest)) {
    if (typeof k === 'symbol') continue;
    out[k] = v instanceof Error ? { name: v.name, message: v.message, stack: v.stack } : v;
  }
  // winston keeps its own symbols on `info`; copy them so the transport still works.
  for (const sym of Object.getOwnPropertySymbols(info))
    (out as Record<symbol, unknown>)[sym] = (info as Record<symbol, unknown>)[sym];
  return out as winston.Logform.TransformableInfo;
});

/**
 * JSON logger: one line per event with `time`, `level`, `service`, `msg`, `trace_id`, `span_id`,
 * `correlation_id` and structured fields. Messages read `method() | what happened`.
 */
export function createLogger(opts: LoggerOptions): winston.Logger {
  const logger = winston.createLogger({
    level: opts.level ?? 'info',
    defaultMeta: { service: opts.service, node_id: opts.nodeId },
    format: winston.format.combine(
      winston.format.errors({ stack: true }),
      winston.format.timestamp(),
      traceFields(),
      shape(),
      winston.format.json(),
    ),
    transports: [
      opts.stream
        ? new winston.transports.Stream({ stream: opts.stream })
        : new winston.transports.Console({ stderrLevels: [] }),
    ],
  });
  // winston runs the whole format chain (trace fields, shaping, JSON) before its transports drop
  // a line below their level: a disabled `debug(...)` on a hot path would cost a formatted line.
  // Level methods return at once when their level is off.
  const methods = logger as unknown as Record<string, (...args: unknown[]) => winston.Logger>;
  for (const level of Object.keys(logger.levels)) {
    const write = methods[level];
    if (typeof write !== 'function') continue;
    methods[level] = function (this: winston.Logger, ...args: unknown[]) {
      return logger.isLevelEnabled(level) ? write.apply(logger, args) : logger;
    };
  }
  return logger;
}

/** The logger type used across Parley. */
export type Logger = winston.Logger;
