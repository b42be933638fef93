import { HTTP_STATUS_BY_CODE, type CommonErrorCode, type ErrorBody } from '@parley/contracts';

/**
 * Base of every domain error that reaches an edge: a string `code`, an HTTP status, and
 * `retryable` as data. Domain libraries subclass it (or just carry `code`/`status` fields).
 */
export class ParleyError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = HTTP_STATUS_BY_CODE[code as CommonErrorCode] ?? 500,
    readonly retryable = false,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ParleyError';
  }
}

/** HTTP status of any error carrying a code. */
export function statusOf(err: unknown, body: ErrorBody): number {
  const s =
    (err as { status?: unknown; httpStatus?: unknown })?.status ??
    (err as { httpStatus?: unknown })?.httpStatus;
  if (typeof s === 'number' && s >= 400 && s < 600) return s;
  return (
    HTTP_STATUS_BY_CODE[body.code as CommonErrorCode] ?? (body.code === 'INTERNAL' ? 500 : 400)
  );
}
