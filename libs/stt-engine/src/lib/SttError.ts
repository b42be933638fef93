import {
  type CommonErrorCode,
  type ErrorBody,
  HTTP_STATUS_BY_CODE,
  STT_HTTP_STATUS,
  type SttReplyCode,
} from '@parley/contracts';
import { SttEngineError } from './SttEngineError';

/** An STT code or one of the common ones (`NOT_FOUND`, `CONFLICT`, `TIMEOUT`, …). */
export type SttErrorCode = SttReplyCode | CommonErrorCode;

const RETRYABLE: ReadonlySet<SttErrorCode> = new Set([
  'TIMEOUT',
  'UNAVAILABLE',
  'NO_WORKER',
  'NOT_LOADED',
  'CLOSED',
  'TRANSCRIBE_FAILED',
  'DECODER_UNAVAILABLE',
  'ENGINE_UNAVAILABLE',
]);

/**
 * Error of the STT service (orchestrator and workers): a code from the STT contract, its HTTP
 * status, and `retryable` as data. Engine errors convert with {@link SttError.from} (their codes
 * are a subset of the service's).
 */
export class SttError extends Error {
  override readonly name = 'SttError';
  readonly code: SttErrorCode;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(
    code: SttErrorCode,
    message: string,
    options: { retryable?: boolean; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? RETRYABLE.has(code);
    this.details = options.details;
  }

  /** HTTP status (read by the runtime's exception filter). */
  get status(): number {
    return (
      (STT_HTTP_STATUS as Record<string, number>)[this.code] ??
      HTTP_STATUS_BY_CODE[this.code as CommonErrorCode] ??
      500
    );
  }

  /** Wire body. */
  toBody(): ErrorBody {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }

  /** Converts an engine error (same code) or anything else (`INTERNAL`, message kept). */
  static from(err: unknown): SttError {
    if (err instanceof SttError) return err;
    if (err instanceof SttEngineError) {
      return new SttError(err.code, err.message, { retryable: err.retryable, cause: err });
    }
    return new SttError('INTERNAL', err instanceof Error ? err.message : String(err), {
      retryable: false,
      cause: err,
    });
  }
}
