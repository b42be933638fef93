import { whisperLanguageId } from './languages';
import { type GgmlModelInfo } from './GgmlModel';
import { STT_SAMPLE_RATE, type SttPriority, type SttTranscribeOptions } from './SttEngine';
import { SttEngineError } from './SttEngineError';
import { type WhisperNativeSegment } from './WhisperAddon';

/** Encoder frames per second of audio (100 mel frames/s, stride-2 convolution). */
const ENCODER_FRAMES_PER_SECOND = 50;
/** Full encoder context: 30 s. */
export const FULL_AUDIO_CONTEXT = 1500;
/**
 * whisper.cpp returns nothing for inputs under 100 mel frames, counted as
 * `1 + floor((samples + 200 - 400) / 160)` — so even exactly 1 s (16000 samples → 99 frames) is
 * dropped. Shorter clips are zero-padded to this length (1.02 s).
 */
export const MIN_SAMPLES = STT_SAMPLE_RATE + 320;
/** Samples louder than this are not Float32 PCM in [-1, 1] (likely Int16 values as floats). */
const MAX_ABS_SAMPLE = 2;

/**
 * Encoder context that fits `seconds` of audio: `ceil(ceil(seconds × 50) / 64) × 64` frames,
 * capped at the full 1500. Multiples of 64 keep ggml's matrix kernels on their fast paths and
 * bound the number of distinct graph shapes (allocator re-planning).
 */
export function fitAudioContext(seconds: number): number {
  const frames = Math.ceil(seconds * ENCODER_FRAMES_PER_SECOND);
  return Math.min(FULL_AUDIO_CONTEXT, Math.max(64, Math.ceil(frames / 64) * 64));
}

/** Default token budget: about twice fast speech, capped by Whisper's 224 per 30 s window. */
export function defaultMaxTokens(seconds: number): number {
  return Math.min(224, 16 + Math.ceil(8 * seconds));
}

/** Options after validation and defaulting. */
export interface ResolvedTranscribeOptions {
  language: string;
  prompt: string | undefined;
  maxTokens: number;
  temperature: number;
  temperatureIncrement: number;
  offsetMs: number;
  singleSegment: boolean;
  /** 0 = whisper's default (full). */
  audioContext: number;
  threads: number;
  translate: boolean;
  priority: SttPriority;
}

function bad(message: string): SttEngineError {
  return new SttEngineError('BAD_OPTIONS', message);
}

/**
 * Validates `pcm` as transcribable audio: a non-empty Float32Array of finite samples in about
 * [-1, 1]. Throws `BAD_AUDIO`.
 */
export function validateAudio(pcm: unknown): asserts pcm is Float32Array {
  if (!(pcm instanceof Float32Array)) {
    throw new SttEngineError('BAD_AUDIO', 'audio must be a Float32Array of mono 16 kHz samples');
  }
  if (pcm.length === 0) throw new SttEngineError('BAD_AUDIO', 'audio is empty (0 samples)');
  let peak = 0;
  for (let i = 0; i < pcm.length; i++) {
    const v = pcm[i];
    if (!Number.isFinite(v)) {
      throw new SttEngineError('BAD_AUDIO', `audio sample ${i} is not a finite number (${v})`);
    }
    const a = v < 0 ? -v : v;
    if (a > peak) peak = a;
  }
  if (peak > MAX_ABS_SAMPLE) {
    throw new SttEngineError(
      'BAD_AUDIO',
      `audio peak ${peak.toFixed(1)} is outside [-1, 1]: pass Float32 PCM (convert Int16 with int16ToFloat32)`,
    );
  }
}

/** Validates options against the model and fills defaults. Throws `BAD_OPTIONS` / `UNSUPPORTED_LANGUAGE`. */
export function resolveTranscribeOptions(
  options: SttTranscribeOptions,
  model: Pick<GgmlModelInfo, 'multilingual' | 'languageCount' | 'hparams'>,
  seconds: number,
  defaultThreads: number,
): ResolvedTranscribeOptions {
  const language = (options.language ?? 'en').toLowerCase();
  if (language !== 'auto') {
    const id = whisperLanguageId(language);
    if (id < 0) {
      throw new SttEngineError(
        'UNSUPPORTED_LANGUAGE',
        `unknown language code "${options.language}"`,
      );
    }
    if (!model.multilingual && language !== 'en') {
      throw new SttEngineError(
        'UNSUPPORTED_LANGUAGE',
        `the model is English-only; cannot transcribe "${language}"`,
      );
    }
    if (id >= model.languageCount) {
      throw new SttEngineError(
        'UNSUPPORTED_LANGUAGE',
        `the model does not know language "${language}"`,
      );
    }
  } else if (!model.multilingual) {
    throw new SttEngineError(
      'UNSUPPORTED_LANGUAGE',
      'the model is English-only; language detection is unavailable',
    );
  }

  const maxTokens = options.maxTokens ?? defaultMaxTokens(seconds);
  const tokenCap = Math.floor(model.hparams.n_text_ctx / 2);
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > tokenCap) {
    throw bad(`maxTokens must be an integer in [1, ${tokenCap}], got ${options.maxTokens}`);
  }
  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0 && temperature <= 1)) {
    throw bad(`temperature must be in [0, 1], got ${options.temperature}`);
  }
  const temperatureIncrement = options.temperatureIncrement ?? 0;
  if (!(temperatureIncrement >= 0 && temperatureIncrement <= 1)) {
    throw bad(`temperatureIncrement must be in [0, 1], got ${options.temperatureIncrement}`);
  }
  const offsetMs = options.offsetMs ?? 0;
  if (!Number.isFinite(offsetMs) || offsetMs < 0) {
    throw bad(`offsetMs must be a finite number ≥ 0, got ${options.offsetMs}`);
  }
  const threads = options.threads ?? defaultThreads;
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw bad(`threads must be an integer in [1, 64], got ${options.threads}`);
  }
  if (options.prompt !== undefined && typeof options.prompt !== 'string') {
    throw bad('prompt must be a string');
  }
  const priority = options.priority ?? 'realtime';
  if (priority !== 'realtime' && priority !== 'batch') {
    throw bad(`priority must be "realtime" or "batch", got ${String(options.priority)}`);
  }

  const long = seconds > 30;
  let audioContext: number;
  const ac = options.audioContext ?? 'fit';
  if (long || ac === 'full') audioContext = 0;
  else if (ac === 'fit') audioContext = fitAudioContext(seconds);
  else if (Number.isInteger(ac) && ac >= 64 && ac <= FULL_AUDIO_CONTEXT) {
    audioContext = ac === FULL_AUDIO_CONTEXT ? 0 : ac;
  } else {
    throw bad(`audioContext must be "fit", "full" or an integer in [64, 1500], got ${String(ac)}`);
  }

  return {
    language,
    prompt: options.prompt || undefined,
    maxTokens,
    temperature,
    temperatureIncrement,
    offsetMs,
    singleSegment: options.singleSegment ?? !long,
    audioContext,
    threads,
    translate: options.translate ?? false,
    priority,
  };
}

/** whisper_full_params as smart-whisper's addon takes them. */
export function toNativeParams(
  o: ResolvedTranscribeOptions,
  abortFlag: Int32Array,
): Record<string, unknown> {
  return {
    strategy: 0, // greedy; smart-whisper defaults to beam search (5 decoders: ~5× the decode cost)
    n_threads: o.threads,
    language: o.language,
    translate: o.translate,
    temperature: o.temperature,
    temperature_inc: o.temperatureIncrement,
    max_tokens: o.maxTokens,
    single_segment: o.singleSegment,
    audio_ctx: o.audioContext,
    // Every call is independent; context is passed explicitly as `prompt`.
    no_context: true,
    ...(o.prompt ? { initial_prompt: o.prompt } : {}),
    suppress_blank: true,
    print_progress: false,
    print_realtime: false,
    print_timestamps: false,
    format: 'detail',
    abort_flag: abortFlag,
  };
}

/**
 * Turns native segments into Parley's: text trimmed, empty segments dropped, times clamped to the
 * clip (whisper reports the end of a single segment as the end of its 30 s window, and random or
 * hallucinating decoders emit timestamps past the audio), made monotonic (each segment starts no
 * earlier than the previous one ended), then shifted by `offsetMs`.
 */
export function normalizeSegments(
  native: readonly WhisperNativeSegment[],
  clipMs: number,
  offsetMs: number,
): Array<{ t0: number; t1: number; text: string; tokens: number; confidence: number }> {
  const out: Array<{ t0: number; t1: number; text: string; tokens: number; confidence: number }> =
    [];
  let prevEnd = 0;
  for (const s of native) {
    const text = (s.text ?? '').trim();
    if (!text) continue;
    const clamp = (v: number) => Math.min(clipMs, Math.max(0, Number.isFinite(v) ? v : 0));
    const t0 = Math.max(prevEnd, clamp(s.from));
    const t1 = Math.max(t0, clamp(s.to));
    prevEnd = t1;
    const confidence = Number.isFinite(s.confidence)
      ? Math.min(1, Math.max(0, s.confidence ?? 0))
      : 0;
    out.push({
      t0: Math.round(t0 + offsetMs),
      t1: Math.round(t1 + offsetMs),
      text,
      tokens: s.tokens?.length ?? 0,
      confidence,
    });
  }
  return out;
}
