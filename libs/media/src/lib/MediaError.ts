/**
 * Why a media operation failed. Each code maps to one typed reply of the SFU's NATS API.
 *
 * - `NOT_FOUND`: unknown room, peer, transport, producer or consumer id.
 * - `ALREADY_EXISTS`: a peer with that id already joined the room.
 * - `INVALID_STATE`: the entity is closed or not in a state that allows the call.
 * - `ROOM_CLOSED`: the room was closed (explicitly, idle, or because its worker died).
 * - `ALREADY_CONNECTED`: `connect` was already called on that transport.
 * - `BAD_REQUEST`: malformed arguments (missing fields, wrong types, bad DTLS parameters).
 * - `BAD_RTP_PARAMETERS`: invalid or unsupported RTP parameters in `produce`.
 * - `CANNOT_CONSUME`: the consumer's RTP capabilities cannot receive that producer.
 * - `NO_WORKER`: no live mediasoup worker is available (all died, replacements pending).
 * - `WORKER_DIED`: the worker serving the call died while it was in flight.
 * - `INTERNAL`: anything else; a bug, reported with the original message.
 */
export type MediaErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'INVALID_STATE'
  | 'ROOM_CLOSED'
  | 'ALREADY_CONNECTED'
  | 'BAD_REQUEST'
  | 'BAD_RTP_PARAMETERS'
  | 'CANNOT_CONSUME'
  | 'NO_WORKER'
  | 'WORKER_DIED'
  | 'INTERNAL';

/** Every code, e.g. for building a contract's enum from the same source. */
export const MEDIA_ERROR_CODES: readonly MediaErrorCode[] = [
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'INVALID_STATE',
  'ROOM_CLOSED',
  'ALREADY_CONNECTED',
  'BAD_REQUEST',
  'BAD_RTP_PARAMETERS',
  'CANNOT_CONSUME',
  'NO_WORKER',
  'WORKER_DIED',
  'INTERNAL',
];

// A caller may retry these unchanged: the condition is transient (a worker is being replaced).
const RETRYABLE: ReadonlySet<MediaErrorCode> = new Set(['NO_WORKER', 'WORKER_DIED']);

/** The single error class of `@parley/media`: a string `code`, `retryable` as data. */
export class MediaError extends Error {
  override readonly name = 'MediaError';
  /** Machine-readable reason. */
  readonly code: MediaErrorCode;
  /** Whether the same call may succeed later without changes. */
  readonly retryable: boolean;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }

  /** Plain `{ code, message, retryable }` for replies and logs. */
  toJSON(): { code: MediaErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }

  /** Shorthand for the common `NOT_FOUND` case. */
  static notFound(what: string, id: string): MediaError {
    return new MediaError('NOT_FOUND', `${what} "${id}" not found`);
  }
}

/**
 * Turns anything thrown by mediasoup (or by us) into a `MediaError`.
 *
 * mediasoup throws `TypeError` for invalid arguments (both from its Node-side validation and as the
 * translated worker `TypeError` reply), `UnsupportedError` for codecs/parameters it cannot handle,
 * `InvalidStateError` for calls on closed entities, and plain `Error` for the rest. `badInput` says
 * which code the caller's argument errors map to (RTP parameters in produce, generic otherwise).
 */
export function toMediaError(err: unknown, badInput: MediaErrorCode = 'BAD_REQUEST'): MediaError {
  if (err instanceof MediaError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const message = e.message;
  if (/already called/i.test(message) && /connect/i.test(message)) {
    return new MediaError('ALREADY_CONNECTED', message, { cause: e });
  }
  if (/Channel closed|Worker closed|worker died/i.test(message)) {
    return new MediaError('WORKER_DIED', message, { cause: e });
  }
  switch (e.name) {
    case 'TypeError':
    case 'UnsupportedError':
      return new MediaError(badInput, message, { cause: e });
    case 'InvalidStateError':
      return new MediaError('INVALID_STATE', message, { cause: e });
    default:
      return new MediaError('INTERNAL', message, { cause: e });
  }
}
