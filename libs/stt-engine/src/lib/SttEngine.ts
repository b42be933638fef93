import { type GgmlModelInfo } from './GgmlModel';

/** Audio format every engine takes: mono Float32 PCM in [-1, 1] at this rate. */
export const STT_SAMPLE_RATE = 16_000;

/** Engine lifecycle: `idle` → `loading` → `ready` → `closed` (a failed load returns to `idle`). */
export type SttEngineState = 'idle' | 'loading' | 'ready' | 'closed';

/** Work class of a call. Waiting `realtime` calls run before waiting `batch` calls. */
export type SttPriority = 'realtime' | 'batch';

/** Options of {@link SttEngine.load}. */
export interface SttLoadOptions {
  /** Default thread count of `transcribe()` calls. Default 2. */
  threads?: number;
  /** Use a GPU backend if the addon was built with one. Default false (CPU build). */
  gpu?: boolean;
  /**
   * Run one short transcription after loading so the first request does not pay for first-touch
   * allocations (whisper's state, compute buffers). Default true.
   */
  warmup?: boolean;
}

/** A loaded model, as reported in readiness/capabilities. */
export interface SttModelInfo extends GgmlModelInfo {
  /** File name without directory, e.g. `ggml-base.en.bin`. */
  name: string;
  /** Time to load the weights, in ms. */
  loadMs: number;
  /** Default thread count. */
  threads: number;
}

/** Options of {@link SttEngine.transcribe}. */
export interface SttTranscribeOptions {
  /** Language code (`en`, `de`, …) or `auto` to detect it (costs an extra pass). Default `en`. */
  language?: string;
  /** Text to condition the decoder on (vocabulary, spelling, previous context). */
  prompt?: string;
  /**
   * Decoder token budget per segment. Default: `min(224, 16 + ceil(8 × seconds))` — about twice
   * fast speech, and Whisper's own 224-per-30 s window cap — which bounds hallucination loops.
   */
  maxTokens?: number;
  /** Sampling temperature; 0 = greedy. Default 0. */
  temperature?: number;
  /**
   * Temperature fallback step (whisper's `temperature_inc`): when a decode looks bad, retry at
   * +step. Default 0 = off: a retry doubles the latency of a realtime request.
   */
  temperatureIncrement?: number;
  /** Stream time of the first sample, added to every segment's t0/t1 (ms). Default 0. */
  offsetMs?: number;
  /**
   * One segment for the whole clip (realtime utterances). Default true for clips up to 30 s; false
   * lets whisper split into timestamped segments (and seek through audio longer than 30 s).
   */
  singleSegment?: boolean;
  /**
   * Encoder context: `fit` (default) shrinks it to the clip — `ceil(ceil(s × 50) / 64) × 64` frames
   * instead of the full 1500 (30 s) — which is most of the speed-up for short clips; `full` always
   * encodes 30 s; a number sets it explicitly. Clips over 30 s always use the full context.
   */
  audioContext?: 'fit' | 'full' | number;
  /** Thread count for this call (default: the load option). */
  threads?: number;
  /** Translate to English instead of transcribing. */
  translate?: boolean;
  /** Queue class; waiting realtime calls go before waiting batch calls. Default `realtime`. */
  priority?: SttPriority;
  /**
   * Batch calls only: how many times a realtime call arriving while this one runs may abort it
   * (whisper stops within milliseconds), run first, and let this one start over. Default 0: realtime
   * calls wait for the running call. Bounded so a steady stream of realtime work cannot starve
   * batch work; the cost of each pre-emption is the aborted part of this call.
   */
  maxPreemptions?: number;
  /**
   * Batch calls only: a realtime call arriving while this one runs aborts it (whisper stops within
   * about a millisecond, in the encoder too) and this call rejects with `ABORTED` while its
   * `signal` is not aborted — the caller re-plans (e.g. a shorter window) instead of the engine
   * restarting the same work. Takes precedence over `maxPreemptions`. Default false.
   */
  preemptible?: boolean;
  /** Aborts the call — waiting or running (whisper stops within milliseconds). */
  signal?: AbortSignal;
  /** Called for each segment as whisper finalises it (before the promise resolves). */
  onSegment?: (segment: SttSegment) => void;
}

/** One transcribed span. Times in ms on the caller's timeline (`offsetMs` applied). */
export interface SttSegment {
  /** Start, ms. Monotonic: never before the previous segment's end. */
  t0: number;
  /** End, ms; `t0 ≤ t1 ≤ offsetMs + clip duration`. */
  t1: number;
  /** Text, trimmed. */
  text: string;
  /** Decoded tokens in this segment (text and special). */
  tokens: number;
  /** Mean token probability in [0, 1] (whisper's estimate; not calibrated). */
  confidence: number;
}

/** Where the time of one call went. */
export interface SttTiming {
  /** Waiting for the engine (other calls running), ms. */
  queuedMs: number;
  /** Native whisper_full (mel + encode + decode), ms. */
  processMs: number;
  /** Queue + process + conversion, ms. */
  totalMs: number;
  /** Duration of the audio, ms. */
  audioMs: number;
  /** processMs / audioMs (below 1 = faster than real time). */
  realtimeFactor: number;
  /** Times this (batch) call was aborted by realtime calls and restarted. */
  preemptions: number;
  /** whisper.cpp's own breakdown of `processMs`, when the addon reports it. */
  native?: SttNativeTiming;
}

/** Where whisper_full spent one call, ms (from the native addon). */
export interface SttNativeTiming {
  /** Getting a whisper state (0 when an idle one was reused). */
  initMs: number;
  /** Log-mel spectrogram. */
  melMs: number;
  /** Encoder (conv + transformer + cross-attention keys/values). */
  encodeMs: number;
  /** Decoder passes: one token each, batches, and prompts. */
  decodeMs: number;
  /** Token sampling (logits processing). */
  sampleMs: number;
  /** Decoder passes. */
  decodes: number;
}

/** Result of one {@link SttEngine.transcribe} call. */
export interface SttResult {
  /** Segments in time order. */
  segments: SttSegment[];
  /** All segment texts joined with spaces. */
  text: string;
  /** Language used (the detected one for `auto`). */
  language: string;
  /** Total decoded tokens. */
  tokens: number;
  /** Encoder frames used (1500 = the full 30 s window). */
  audioContext: number;
  /** Timing breakdown. */
  timing: SttTiming;
}

/**
 * A speech-to-text engine hosting one model. Calls are serialised (one native transcription at a
 * time, the engine uses its threads fully); waiting `realtime` calls are served before waiting
 * `batch` calls, so a long job processed in windows (see `LongAudioTranscriber`) yields to
 * realtime work between windows.
 */
export interface SttEngine {
  /** Lifecycle state. */
  readonly state: SttEngineState;
  /** The loaded model, once `ready`. */
  readonly model: SttModelInfo | undefined;
  /** Calls waiting for the engine. */
  readonly pending: number;
  /** Loads the model (once). Rejects with `MODEL_NOT_FOUND`, `MODEL_INVALID`, `MODEL_LOAD_FAILED`. */
  load(modelPath: string, options?: SttLoadOptions): Promise<SttModelInfo>;
  /** Transcribes mono 16 kHz Float32 PCM. */
  transcribe(pcm: Float32Array, options?: SttTranscribeOptions): Promise<SttResult>;
  /** Waits for the running call, rejects waiting ones with `CLOSED`, frees the model. Idempotent. */
  close(): Promise<void>;
}
