import { randomUUID } from 'node:crypto';
import {
  type Context,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  context,
  createContextKey,
} from '@opentelemetry/api';

/** Header (HTTP, NATS, WebSocket envelope) that carries the correlation id. */
export const CORRELATION_HEADER = 'x-correlation-id';

const CORRELATION_KEY = createContextKey('parley.correlation_id');
const VALID_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** A new correlation id. */
export function newCorrelationId(): string {
  return randomUUID();
}

/** Whether a caller-provided correlation id is acceptable (bounded, no header injection). */
export function isValidCorrelationId(id: unknown): id is string {
  return typeof id === 'string' && VALID_ID.test(id);
}

/** The correlation id stored in a context (default: the active one). */
export function getCorrelationId(ctx: Context = context.active()): string | undefined {
  return ctx.getValue(CORRELATION_KEY) as string | undefined;
}

/** A context carrying the correlation id. */
export function setCorrelationId(ctx: Context, id: string): Context {
  return ctx.setValue(CORRELATION_KEY, id);
}

/** Runs `fn` with a correlation id in the active context (a new one unless given). */
export function withCorrelationId<T>(id: string | undefined, fn: () => T): T {
  return context.with(setCorrelationId(context.active(), id ?? newCorrelationId()), fn);
}

/**
 * Propagates the correlation id as `x-correlation-id` next to W3C trace context, so HTTP, NATS and
 * WebSocket carriers get both with one `propagation.inject` call.
 */
export class CorrelationIdPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const id = getCorrelationId(ctx);
    if (id) setter.set(carrier, CORRELATION_HEADER, id);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const raw = getter.get(carrier, CORRELATION_HEADER);
    const id = Array.isArray(raw) ? raw[0] : raw;
    return isValidCorrelationId(id) ? setCorrelationId(ctx, id) : ctx;
  }

  fields(): string[] {
    return [CORRELATION_HEADER];
  }
}
