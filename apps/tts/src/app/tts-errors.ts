import { TTS_HTTP_STATUS, type TtsReplyCode } from '@parley/contracts';
import { ParleyError } from '@parley/runtime';
import { TtsError } from '@parley/tts-engine';

/**
 * Engine errors as the runtime's filter answers them: `{ code, message }` with the status of
 * the code from the contracts (`UNKNOWN_VOICE` 404, `TEXT_TOO_LONG` 413, `BUSY` 503, ...).
 * Anything else passes through unchanged.
 */
export function ttsHttpError(err: unknown): unknown {
  if (err instanceof TtsError) {
    return new ParleyError(
      err.code,
      err.message,
      TTS_HTTP_STATUS[err.code as TtsReplyCode] ?? 500,
      err.retryable,
      err.details,
    );
  }
  return err;
}

/** Outcome label of a failed request: `aborted`, or the error's code. */
export function outcomeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (code === 'ABORTED') return 'aborted';
  return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : 'INTERNAL';
}
