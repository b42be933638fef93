import { z } from 'zod';
import { ErrorBody } from './errors';

/**
 * A request/reply message over NATS: the subject it is served on, the schema of the request, the
 * schema of the successful response, and the default deadline a caller waits for the reply.
 */
export interface RequestContract<
  Req extends z.ZodType = z.ZodType,
  Res extends z.ZodType = z.ZodType,
> {
  readonly kind: 'request';
  /** NATS subject, `<service>.<entity>.<verb>`. */
  readonly subject: string;
  /** Schema of the request payload (validated by the caller before sending and by the server). */
  readonly request: Req;
  /** Schema of the response payload (validated by the server before replying and by the caller). */
  readonly response: Res;
  /** Default deadline in milliseconds. */
  readonly timeoutMs: number;
  /** What the request does. */
  readonly description: string;
  /**
   * How the request travels when not as JSON (e.g. `binaryFrameCodec`: raw audio bytes
   * after a JSON header). Replies are JSON envelopes either way.
   */
  readonly requestCodec?: WireCodec;
}

/**
 * A request's wire format other than JSON. `encode` gets the validated request; `decode` returns
 * what the request schema then validates, and throws an error with a message (answered
 * `BAD_REQUEST`) for a malformed payload.
 */
export interface WireCodec {
  encode(value: unknown): Uint8Array;
  decode(bytes: Uint8Array): unknown;
}

/** A fire-and-forget event over NATS, fanned out to every subscriber. */
export interface EventContract<P extends z.ZodType = z.ZodType> {
  readonly kind: 'event';
  /** NATS subject (or the prefix, when `tokens` adds trailing tokens such as a room id). */
  readonly subject: string;
  /** Schema of the event payload. */
  readonly payload: P;
  /** What happened. */
  readonly description: string;
}

/** Declares a request/reply contract. */
export function defineRequest<Req extends z.ZodType, Res extends z.ZodType>(def: {
  subject: string;
  request: Req;
  response: Res;
  timeoutMs?: number;
  description: string;
  requestCodec?: WireCodec;
}): RequestContract<Req, Res> {
  return { kind: 'request', timeoutMs: 5_000, ...def };
}

/** Declares an event contract. */
export function defineEvent<P extends z.ZodType>(def: {
  subject: string;
  payload: P;
  description: string;
}): EventContract<P> {
  return { kind: 'event', ...def };
}

/** Request payload type of a contract. */
export type RequestOf<C> = C extends RequestContract<infer Req, z.ZodType> ? z.infer<Req> : never;
/** Response payload type of a contract. */
export type ResponseOf<C> = C extends RequestContract<z.ZodType, infer Res> ? z.infer<Res> : never;
/** Payload type of an event contract. */
export type PayloadOf<C> = C extends EventContract<infer P> ? z.infer<P> : never;

/**
 * Envelope of every NATS reply: either the response data or an error. Keeping the envelope
 * explicit (instead of NATS status headers) lets a reply carry a typed error code.
 */
export const ReplyEnvelope = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), data: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorBody }),
]);
/** Envelope of every NATS reply. */
export type ReplyEnvelope = z.infer<typeof ReplyEnvelope>;

/** NATS header names Parley uses besides W3C `traceparent`/`tracestate`. */
export const HEADERS = {
  /** One id per request or utterance, carried across every hop and every log line. */
  correlationId: 'x-correlation-id',
  /** Message id for JetStream de-duplication. */
  msgId: 'Nats-Msg-Id',
} as const;
