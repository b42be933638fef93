import type { SignalingErrorCode } from '@parley/contracts';

/** Codes an {@link AuthError} carries. */
export type AuthErrorCode =
  Extract<SignalingErrorCode, `TOKEN_${string}`> | 'UNAUTHORIZED' | 'FORBIDDEN' | 'BAD_REQUEST';

const STATUS: Record<AuthErrorCode, number> = {
  TOKEN_MISSING: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_BAD_SIGNATURE: 401,
  TOKEN_UNKNOWN_KEY: 401,
  TOKEN_WRONG_TENANT: 401,
  TOKEN_INVALID_CLAIMS: 401,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  BAD_REQUEST: 400,
};

/**
 * The one error class of the auth domain. `code` says precisely what is wrong (an expired token
 * asks for a new token, a bad signature does not); `status` is the HTTP status; never retryable
 * with the same credentials.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly retryable = false;
  constructor(
    readonly code: AuthErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** HTTP status of the code. */
  get status(): number {
    return STATUS[this.code];
  }
}
