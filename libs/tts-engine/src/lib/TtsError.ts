/**
 * Why a text-to-speech operation failed.
 *
 * - `EMPTY_TEXT`: nothing to say (empty or whitespace-only text).
 * - `TEXT_TOO_LONG`: more characters than the configured limit.
 * - `UNSPEAKABLE_TEXT`: characters the voice cannot speak (emoji, other scripts) under the
 *   `error` policy, or nothing speakable left after dropping them under the `drop` policy.
 * - `UNKNOWN_VOICE`: no voice of that name in the registry.
 * - `UNKNOWN_SPEAKER`: the voice has no such speaker (name or id).
 * - `INVALID_OPTION`: a synthesis option out of range (e.g. `lengthScale` 0).
 * - `BAD_VOICE_CONFIG`: the voice's `.onnx.json` is missing, not JSON, or not a Piper config.
 * - `BAD_VOICE_MODEL`: the `.onnx` file cannot be loaded or lacks Piper's inputs/outputs.
 * - `PHONEMIZER_FAILED`: espeak-ng is missing, crashed or timed out.
 * - `ENGINE_FAILED`: onnxruntime failed while running the model (or its worker died).
 * - `UNSUPPORTED_FORMAT`: an output format this process cannot produce (Ogg/Opus without an
 *   ffmpeg that has libopus).
 * - `BUSY`: too many requests are queued for the voice.
 * - `ABORTED`: the caller's AbortSignal fired; the audio produced so far is incomplete.
 * - `CLOSED`: the voice, registry or phonemizer was closed.
 */
export type TtsErrorCode =
  | 'EMPTY_TEXT'
  | 'TEXT_TOO_LONG'
  | 'UNSPEAKABLE_TEXT'
  | 'UNKNOWN_VOICE'
  | 'UNKNOWN_SPEAKER'
  | 'INVALID_OPTION'
  | 'BAD_VOICE_CONFIG'
  | 'BAD_VOICE_MODEL'
  | 'PHONEMIZER_FAILED'
  | 'ENGINE_FAILED'
  | 'UNSUPPORTED_FORMAT'
  | 'BUSY'
  | 'ABORTED'
  | 'CLOSED';

/** Every code, e.g. for building a contract's enum from the same source. */
export const TTS_ERROR_CODES: readonly TtsErrorCode[] = [
  'EMPTY_TEXT',
  'TEXT_TOO_LONG',
  'UNSPEAKABLE_TEXT',
  'UNKNOWN_VOICE',
  'UNKNOWN_SPEAKER',
  'INVALID_OPTION',
  'BAD_VOICE_CONFIG',
  'BAD_VOICE_MODEL',
  'PHONEMIZER_FAILED',
  'ENGINE_FAILED',
  'UNSUPPORTED_FORMAT',
  'BUSY',
  'ABORTED',
  'CLOSED',
];

// Transient conditions: the same request may succeed later (a respawned espeak-ng or worker,
// a shorter queue). Everything else fails the same way every time.
const RETRYABLE: ReadonlySet<TtsErrorCode> = new Set([
  'PHONEMIZER_FAILED',
  'ENGINE_FAILED',
  'UNSUPPORTED_FORMAT',
  'BUSY',
]);

/** The single error class of `@parley/tts-engine`: a string `code`, `retryable` as data. */
export class TtsError extends Error {
  override readonly name = 'TtsError';
  /** Machine-readable reason. */
  readonly code: TtsErrorCode;
  /** Whether the same call may succeed later without changes. */
  readonly retryable: boolean;
  /** Structured context, e.g. the offending characters of `UNSPEAKABLE_TEXT`. */
  readonly details?: Record<string, unknown>;

  constructor(
    code: TtsErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = RETRYABLE.has(code);
    if (options?.details) this.details = options.details;
  }

  /** Plain `{ code, message, retryable, details }` for replies and logs. */
  toJSON(): {
    code: TtsErrorCode;
    message: string;
    retryable: boolean;
    details?: Record<string, unknown>;
  } {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Rejects with `ABORTED` if the signal already fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'synthesis'): void {
  if (signal?.aborted)
    throw new TtsError('ABORTED', `${what} was aborted`, { cause: signal.reason });
}
