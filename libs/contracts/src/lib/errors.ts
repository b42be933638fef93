import { z } from 'zod';

/**
 * Every error that crosses a process boundary (HTTP body, WebSocket response, NATS reply) has this
 * shape. `code` is machine-readable and stable; `message` is for humans; `retryable` tells a caller
 * whether the same request may succeed later (a timeout may, a schema violation never will).
 */
export const ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'TIMEOUT',
  'NO_RESPONDERS',
  'UNAVAILABLE',
  'BAD_RESPONSE',
  'INTERNAL',
] as const;

/** Stable error codes shared by every Parley service. Domain errors add their own strings. */
export type CommonErrorCode = (typeof ERROR_CODES)[number];

/** Wire shape of an error. */
export const ErrorBody = z.object({
  /** Machine-readable code, e.g. `BAD_REQUEST`, `SFU_UNAVAILABLE`. */
  code: z.string().min(1),
  /** Human-readable explanation. */
  message: z.string(),
  /** Whether the same request may succeed when retried later. */
  retryable: z.boolean().optional(),
  /** Structured details, e.g. the schema issues of a rejected payload. */
  details: z.unknown().optional(),
});
/** Wire shape of an error. */
export type ErrorBody = z.infer<typeof ErrorBody>;

/** HTTP status for each common code; domain codes map through their own error classes. */
export const HTTP_STATUS_BY_CODE: Record<CommonErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TIMEOUT: 504,
  NO_RESPONDERS: 503,
  UNAVAILABLE: 503,
  BAD_RESPONSE: 502,
  INTERNAL: 500,
};
