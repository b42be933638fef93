/**
 * Why an STT engine operation failed.
 *
 * - `ENGINE_UNAVAILABLE`: the native whisper addon is missing or does not load (setup not run, or
 *   built for another CPU). Run `node scripts/setup/whisper.mjs`.
 * - `MODEL_NOT_FOUND`: no file at the model path.
 * - `MODEL_INVALID`: the file is not a whisper.cpp ggml model we can load (bad magic, implausible
 *   dimensions, truncated vocabulary, missing tokens whisper.cpp needs).
 * - `MODEL_LOAD_FAILED`: whisper.cpp rejected the model while loading it (e.g. truncated tensors).
 * - `NOT_LOADED`: `transcribe()` before `load()` finished, or after it failed.
 * - `CLOSED`: the engine was closed.
 * - `BAD_AUDIO`: the samples cannot be transcribed (empty, not finite, not Float32 PCM in [-1, 1]).
 * - `BAD_OPTIONS`: invalid options (negative token budget, thread count, …).
 * - `UNSUPPORTED_LANGUAGE`: a language code whisper does not know, or the model cannot transcribe.
 * - `ABORTED`: the caller's AbortSignal fired; the native work was stopped.
 * - `TRANSCRIBE_FAILED`: whisper_full returned an error.
 * - `INTERNAL`: anything else (a bug).
 */
export type SttEngineErrorCode =
  | 'ENGINE_UNAVAILABLE'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'MODEL_LOAD_FAILED'
  | 'NOT_LOADED'
  | 'CLOSED'
  | 'BAD_AUDIO'
  | 'BAD_OPTIONS'
  | 'UNSUPPORTED_LANGUAGE'
  | 'ABORTED'
  | 'TRANSCRIBE_FAILED'
  | 'INTERNAL';

/** Every code, e.g. for building a contract's enum from the same source. */
export const STT_ENGINE_ERROR_CODES: readonly SttEngineErrorCode[] = [
  'ENGINE_UNAVAILABLE',
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'MODEL_LOAD_FAILED',
  'NOT_LOADED',
  'CLOSED',
  'BAD_AUDIO',
  'BAD_OPTIONS',
  'UNSUPPORTED_LANGUAGE',
  'ABORTED',
  'TRANSCRIBE_FAILED',
  'INTERNAL',
];

// The same request may succeed later or elsewhere unchanged: another worker (with its model
// loaded), or a retry after cancellation/pre-emption. Bad input and bad models never will.
const RETRYABLE: ReadonlySet<SttEngineErrorCode> = new Set([
  'NOT_LOADED',
  'CLOSED',
  'ABORTED',
  'TRANSCRIBE_FAILED',
]);

/** The single error class of `@parley/stt-engine`: a string `code`, `retryable` as data. */
export class SttEngineError extends Error {
  override readonly name = 'SttEngineError';
  /** Machine-readable reason. */
  readonly code: SttEngineErrorCode;
  /** Whether the same request may succeed later (on this or another worker) without changes. */
  readonly retryable: boolean;

  constructor(code: SttEngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.retryable = RETRYABLE.has(code);
  }

  /** Plain `{ code, message, retryable }` for replies and logs. */
  toJSON(): { code: SttEngineErrorCode; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}
