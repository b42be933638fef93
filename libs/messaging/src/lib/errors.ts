import type { ErrorBody } from '@parley/contracts';

/** Codes a messaging call can fail with locally; remote errors keep the server's own code. */
export type MessagingErrorCode =
  | 'BAD_REQUEST'
  | 'TIMEOUT'
  | 'NO_RESPONDERS'
  | 'UNAVAILABLE'
  | 'BAD_RESPONSE'
  | 'INTERNAL'
  | (string & {});

/**
 * Error of a NATS call. `remote` tells whether the code came from the server's reply (the request
 * arrived and was refused) or from the transport (timeout, no responders, disconnected).
 */
export class MessagingError extends Error {
  override readonly name = 'MessagingError';
  constructor(
    readonly code: MessagingErrorCode,
    message: string,
    readonly retryable = false,
    readonly details?: unknown,
    readonly remote = false,
  ) {
    super(message);
  }

  /** Wire body of this error. */
  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }

  /** Rebuilds a remote error from a reply body. */
  static fromBody(body: ErrorBody): MessagingError {
    return new MessagingError(body.code, body.message, body.retryable ?? false, body.details, true);
  }
}

/**
 * Turns anything thrown by a handler into a wire error. Errors that carry a string `code` (every
 * Parley domain error does) keep it, their message and `retryable`; anything else is INTERNAL and
 * its message is not leaked.
 */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof MessagingError) return err.toBody();
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; retryable?: unknown; details?: unknown };
    if (
      typeof e.code === 'string' &&
      /^[A-Z][A-Z0-9_]*$/.test(e.code) &&
      typeof e.message === 'string'
    ) {
      return {
        code: e.code,
        message: e.message,
        retryable: e.retryable === true,
        ...(e.details === undefined ? {} : { details: e.details }),
      };
    }
  }
  return { code: 'INTERNAL', message: 'internal error', retryable: false };
}
