import { SFU_ERROR_CODES, type SfuErrorCode } from '@parley/contracts';

/**
 * Why a media operation failed; the same codes as the SFU's NATS replies (`SFU_ERROR_CODES` in
 * `@parley/contracts`, which documents each), so a `MediaError` goes onto the wire unchanged.
 */
export type MediaErrorCode = SfuErrorCode;

/** Every code, e.g. for building a contract's enum from the same source. */
export const MEDIA_ERROR_CODES: readonly MediaErrorCode[] = SFU_ERROR_CODES;

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
