import {
  type CommonErrorCode,
  type ErrorBody,
  HTTP_STATUS_BY_CODE,
  SIGNALING_HTTP_STATUS,
  type SignalingErrorCode,
} from '@parley/contracts';
import { MessagingError, toErrorBody } from '@parley/messaging';
import { ParleyError } from '@parley/runtime';

/** Codes signaling answers with. */
export type SignalingCode = SignalingErrorCode | CommonErrorCode;

/**
 * The error class of signaling: a code from the contracts, the HTTP status of that code, and
 * `retryable` as data. The runtime's filter turns it into `{code,message}` on REST; the
 * WebSocket layer into an error response.
 */
export class SignalingError extends ParleyError {
  constructor(
    code: SignalingCode | (string & {}),
    message: string,
    retryable = false,
    details?: unknown,
  ) {
    super(
      code,
      message,
      (SIGNALING_HTTP_STATUS as Record<string, number>)[code] ??
        HTTP_STATUS_BY_CODE[code as CommonErrorCode] ??
        500,
      retryable,
      details,
    );
    this.name = 'SignalingError';
  }
}

/** A refused call; `retryAfterS` becomes the `Retry-After` header. */
export class RateLimitedError extends SignalingError {
  readonly retryAfterS: number;
  constructor(
    readonly retryAfterMs: number,
    what: string,
  ) {
    super('RATE_LIMITED', `too many ${what}; retry in ${Math.ceil(retryAfterMs / 1000)} s`, true, {
      retryAfterMs,
    });
    this.retryAfterS = Math.max(1, Math.ceil(retryAfterMs / 1000));
  }
}

/** Redis failures surface as UNAVAILABLE (retryable) instead of INTERNAL. */
export function storeError(err: unknown): SignalingError {
  if (err instanceof ParleyError) return err as SignalingError;
  // Details for operators, not the driver's wording in the message.
  return new SignalingError('UNAVAILABLE', 'state store unavailable, retry shortly', true, {
    cause: String((err as Error)?.message ?? err).slice(0, 200),
  });
}

/** Wire body of anything thrown in a handler (unknown errors do not leak their message). */
export function errorBody(err: unknown): ErrorBody {
  if (err instanceof MessagingError) return err.toBody();
  return toErrorBody(err);
}
