import type { UnspeakableCharacter, UnspeakablePolicy } from './ScriptGuard';

/** Per-request synthesis parameters; anything left out takes the voice's default. */
export interface SynthesisOptions {
  /** Speaker name (from `speaker_id_map`) or id. Multi-speaker voices default to id 0. */
  speaker?: string | number;
  /** Phoneme duration factor: < 1 faster, > 1 slower. Range 0.1..10. */
  lengthScale?: number;
  /** Generator noise (VITS `noise_scale`). Range 0..5. */
  noiseScale?: number;
  /** Phoneme width noise (VITS `noise_w`). Range 0..5. */
  noiseW?: number;
  /**
   * Silence appended after every sentence but the last, in seconds (Piper's
   * `sentence_silence`). Default 0. Range 0..10.
   */
  sentenceSilenceSeconds?: number;
  /**
   * Scale each sentence to full range, as Piper does (peak = 32767, quieter than 0.01 stays
   * quiet). Default true; false converts the model's floats as they are (clipping at ±1).
   */
  normalize?: boolean;
  /** What to do with characters the voice cannot speak. Default `error`. */
  unspeakable?: UnspeakablePolicy;
  /**
   * Streaming: a first sentence longer than this many characters is spoken as two pieces, cut
   * after its first clause (`,` `;` `:` `—`), so the first audio comes sooner. Ignored with
   * sentence silence. Default: off (one piece per sentence, as Piper).
   */
  firstChunkChars?: number;
}

/** One sentence of audio. */
export interface AudioChunk {
  /** 0-based sentence number. */
  index: number;
  /** The sentence as written in the request. */
  text: string;
  /** The sentence's phonemes (IPA with Piper's punctuation). */
  phonemes: string;
  /** Number of phoneme ids fed to the model. */
  phonemeIdCount: number;
  /** 16-bit mono PCM at `sampleRate`, including any sentence silence. */
  pcm: Int16Array;
  /** Samples per second. */
  sampleRate: number;
  /** True on the last sentence of a request that completed; never set on partial audio. */
  final: boolean;
  /** Model inference time for this sentence, in milliseconds. */
  inferenceMs: number;
  /** Phonemes the voice's id map lacks, skipped as Piper skips them. */
  missingPhonemes: Record<string, number>;
  /** Where this sentence's time went (for Server-Timing and profiling). */
  timing?: ChunkTiming;
}

/**
 * `performance.now()` instants of one sentence on the thread that synthesises it: phonemes
 * ready, model run started (its session granted), run result received, PCM ready.
 */
export interface ChunkTiming {
  phonemizedAt: number;
  runStartedAt: number;
  runEndedAt: number;
  readyAt: number;
}

/** A complete synthesis. */
export interface SynthesisResult {
  /** All sentences' PCM, concatenated. */
  pcm: Int16Array;
  /** Samples per second. */
  sampleRate: number;
  /** Duration of `pcm` in seconds. */
  durationSeconds: number;
  /** Per-sentence details (without PCM). */
  sentences: Array<Omit<AudioChunk, 'pcm'> & { samples: number }>;
  /** Characters dropped under the `drop` policy. Empty when nothing was dropped. */
  dropped: UnspeakableCharacter[];
}

/** A voice as the registry lists it, read from its config without loading the model. */
export interface VoiceInfo {
  /** Registry name: the file name without `.onnx`, e.g. `en_US-lessac-medium`. */
  name: string;
  /** Absolute path of the `.onnx` model. */
  modelPath: string;
  /** Absolute path of the `.onnx.json` config. */
  configPath: string;
  /** Output sample rate. */
  sampleRate: number;
  /** espeak-ng voice, e.g. `en-us`. */
  espeakVoice: string;
  /** Language code from the config, e.g. `en_US`. */
  languageCode?: string;
  /** Piper quality label. */
  quality?: string;
  /** Number of speakers. */
  numSpeakers: number;
  /** Speaker name to id (empty for single-speaker voices). */
  speakers: Record<string, number>;
  /** Model file size in bytes. */
  modelBytes: number;
}
