import { stat } from 'node:fs/promises';

import { type AudioCache, type CachedAudio, audioCacheKey } from './AudioCache';
import type { PiperVoice, TtsStream } from './PiperVoice';
import type { UnspeakableCharacter } from './ScriptGuard';
import { TtsError, throwIfAborted } from './TtsError';
import { silentTtsLogger, type TtsLogger } from './TtsLogger';
import { TypedEmitter } from './TypedEmitter';
import type { ChunkTiming, SynthesisOptions } from './types';
import type { VoiceRegistry } from './VoiceRegistry';

/** A request to the synthesizer: text, voice and the engine's options. */
export interface SpeechRequest extends SynthesisOptions {
  /** What to say. */
  text: string;
  /** Voice name; default the synthesizer's default voice. */
  voice?: string;
  /** Read and write the audio cache (when there is one). Default true. */
  cache?: boolean;
}

/** One sentence of speech. */
export interface SpeechChunk {
  /** 0-based sentence number. */
  index: number;
  /** The sentence as written. */
  text: string;
  /** Its phonemes (IPA with Piper's punctuation). */
  phonemes: string;
  /** 16-bit mono PCM at the stream's sample rate. */
  pcm: Int16Array;
  /** True on the last sentence of a request that completed; never on partial audio. */
  final: boolean;
  /** Model inference time of this sentence in ms (0 when it came from the cache). */
  inferenceMs: number;
  /** Where the sentence's time went (absent when it came from the cache). */
  timing?: ChunkTiming;
}

/** A complete synthesis. */
export interface SpeechResult {
  voice: string;
  sampleRate: number;
  pcm: Int16Array;
  sentences: Array<{ text: string; phonemes: string; samples: number }>;
  cached: boolean;
}

/** Options of {@link SpeechSynthesizer}. */
export interface SpeechSynthesizerOptions {
  /** Where voices come from. */
  registry: VoiceRegistry;
  /** Voice used when a request names none. */
  defaultVoice: string;
  /** Audio cache; none when undefined. */
  cache?: AudioCache;
  logger?: TtsLogger;
}

/** Events of {@link SpeechSynthesizer.observer}, for metrics. */
export type SpeechSynthesizerEvents = {
  /** A voice was used for the first time (attach to its own observer here). */
  voice: [PiperVoice];
  /** Outcome of a cache lookup or store. */
  cache: [{ op: 'get' | 'put'; result: 'hit' | 'miss' | 'stored' | 'skipped'; ms: number }];
};

/**
 * The TTS pipeline behind every API: picks the voice, validates the request, answers from the
 * audio cache when it can, otherwise streams the engine's sentences and stores the complete
 * audio afterwards. Partial audio (an aborted or failed stream) is never cached.
 */
export class SpeechSynthesizer {
  /** Cache and voice events; never affect synthesis. */
  readonly observer: TypedEmitter<SpeechSynthesizerEvents>;
  readonly #registry: VoiceRegistry;
  readonly #defaultVoice: string;
  readonly #cache?: AudioCache;
  readonly #logger: TtsLogger;
  readonly #seen = new WeakSet<PiperVoice>();
  readonly #fingerprints = new WeakMap<PiperVoice, Promise<string>>();

  constructor(options: SpeechSynthesizerOptions) {
    this.#registry = options.registry;
    this.#defaultVoice = options.defaultVoice;
    this.#cache = options.cache;
    this.#logger = options.logger ?? silentTtsLogger;
    this.observer = new TypedEmitter(this.#logger);
    // Fails early (UNKNOWN_VOICE or the voice's own problem) instead of on the first request.
    this.#registry.info(options.defaultVoice);
  }

  /** Name of the default voice. */
  get defaultVoice(): string {
    return this.#defaultVoice;
  }

  /** The registry. */
  get registry(): VoiceRegistry {
    return this.#registry;
  }

  /** Whether an audio cache is configured. */
  get caching(): boolean {
    return !!this.#cache;
  }

  /** The loaded voice of a request (default voice when unnamed). Throws `UNKNOWN_VOICE`. */
  async voice(name?: string): Promise<PiperVoice> {
    const voice = await this.#registry.get(name ?? this.#defaultVoice);
    if (!this.#seen.has(voice)) {
      this.#seen.add(voice);
      this.observer.safeEmit('voice', voice);
    }
    return voice;
  }

  /**
   * Starts speaking. Everything that can be refused is refused here, before any audio: unknown
   * voice or speaker, empty or too long text, options out of range, unspeakable characters.
   * The returned stream yields one chunk per sentence; aborting `signal` stops the engine.
   */
  async speak(request: SpeechRequest, signal?: AbortSignal): Promise<SpeechStream> {
    const voice = await this.voice(request.voice);
    throwIfAborted(signal);
    const { text } = request;
    if (typeof text !== 'string' || text.trim().length === 0)
      throw new TtsError('EMPTY_TEXT', 'text is empty');
    if (text.length > voice.maxChars) {
      throw new TtsError(
        'TEXT_TOO_LONG',
        `text has ${text.length} characters; the limit is ${voice.maxChars}`,
        { details: { length: text.length, limit: voice.maxChars } },
      );
    }
    const params = voice.resolveOptions(request);
    const useCache = !!this.#cache && request.cache !== false;
    let key: string | undefined;
    if (useCache && this.#cache) {
      key = audioCacheKey(
        { name: voice.name, fingerprint: await this.#fingerprint(voice) },
        params,
        text,
      );
      const started = performance.now();
      const hit = await this.#cache.get(key);
      this.observer.safeEmit('cache', {
        op: 'get',
        result: hit ? 'hit' : 'miss',
        ms: performance.now() - started,
      });
      if (hit && hit.sampleRate === voice.sampleRate) {
        return new SpeechStream(voice.name, voice.sampleRate, true, [], cachedChunks(hit, signal), {
          sentences: hit.sentences.map((s) => s.text),
        });
      }
    }
    const engine = voice.synthesizeStream(text, request, signal);
    const store =
      useCache && key !== undefined
        ? (audio: CachedAudio) => this.#store(key as string, audio)
        : undefined;
    return new SpeechStream(
      voice.name,
      voice.sampleRate,
      false,
      engine.dropped,
      engineChunks(engine, voice.sampleRate, store),
      { sentences: engine.sentences },
    );
  }

  /** Speaks a whole text and returns all its audio. */
  async synthesize(request: SpeechRequest, signal?: AbortSignal): Promise<SpeechResult> {
    const stream = await this.speak(request, signal);
    const chunks: SpeechChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const pcm = concatPcm(chunks.map((c) => c.pcm));
    return {
      voice: stream.voice,
      sampleRate: stream.sampleRate,
      pcm,
      sentences: chunks.map((c) => ({ text: c.text, phonemes: c.phonemes, samples: c.pcm.length })),
      cached: stream.cached,
    };
  }

  async #store(key: string, audio: CachedAudio): Promise<void> {
    if (!this.#cache) return;
    const started = performance.now();
    const stored = await this.#cache.put(key, audio);
    this.observer.safeEmit('cache', {
      op: 'put',
      result: stored ? 'stored' : 'skipped',
      ms: performance.now() - started,
    });
  }

  /** Model and config size and modification time: a replaced voice file changes every key. */
  #fingerprint(voice: PiperVoice): Promise<string> {
    let p = this.#fingerprints.get(voice);
    if (!p) {
      const info = this.#registry.info(voice.name);
      p = Promise.all([stat(info.modelPath), stat(info.configPath)]).then(
        ([m, c]) => `${m.size}:${m.mtimeMs}:${c.size}:${c.mtimeMs}`,
        // Unreadable files: the voice is loaded anyway; fall back to its listed size.
        () => `${info.modelBytes}`,
      );
      this.#fingerprints.set(voice, p);
    }
    return p;
  }
}

function concatPcm(parts: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

async function* cachedChunks(hit: CachedAudio, signal?: AbortSignal): AsyncGenerator<SpeechChunk> {
  let offset = 0;
  for (const [index, s] of hit.sentences.entries()) {
    throwIfAborted(signal);
    yield {
      index,
      text: s.text,
      phonemes: s.phonemes,
      pcm: hit.pcm.subarray(offset, offset + s.samples),
      final: index === hit.sentences.length - 1,
      inferenceMs: 0,
    };
    offset += s.samples;
  }
}

async function* engineChunks(
  engine: TtsStream,
  sampleRate: number,
  store?: (audio: CachedAudio) => Promise<void>,
): AsyncGenerator<SpeechChunk> {
  const kept: SpeechChunk[] = [];
  for await (const c of engine) {
    const chunk: SpeechChunk = {
      index: c.index,
      text: c.text,
      phonemes: c.phonemes,
      pcm: c.pcm,
      final: c.final,
      inferenceMs: c.inferenceMs,
      timing: c.timing,
    };
    if (store) kept.push(chunk);
    yield chunk;
    if (c.final && store) {
      // Stored only once the last sentence is out: a stream that stops early is never cached.
      void store({
        sampleRate,
        sentences: kept.map((k) => ({ text: k.text, phonemes: k.phonemes, samples: k.pcm.length })),
        pcm: concatPcm(kept.map((k) => k.pcm)),
      });
    }
  }
}

/**
 * The speech of one request: an async iterable of per-sentence chunks (iterate once). The
 * voice, sample rate, sentences and whether it comes from the cache are known before the first
 * chunk, so a server can send its headers right away.
 */
export class SpeechStream implements AsyncIterable<SpeechChunk> {
  /** The sentences that will be spoken, in order. */
  readonly sentences: readonly string[];
  #iterated = false;

  /** @internal */
  constructor(
    /** Voice name. */
    readonly voice: string,
    /** Samples per second of every chunk. */
    readonly sampleRate: number,
    /** Served from the audio cache. */
    readonly cached: boolean,
    /** Characters dropped under the `drop` policy (none for cached audio). */
    readonly dropped: readonly UnspeakableCharacter[],
    private readonly chunks: AsyncGenerator<SpeechChunk>,
    info: { sentences: readonly string[] },
  ) {
    this.sentences = info.sentences;
  }

  [Symbol.asyncIterator](): AsyncIterator<SpeechChunk> {
    if (this.#iterated)
      throw new TtsError('INVALID_OPTION', 'a SpeechStream can be iterated only once');
    this.#iterated = true;
    return this.chunks;
  }

  /** Stops the stream without iterating it (releases the engine's pending work). */
  async cancel(): Promise<void> {
    this.#iterated = true;
    await this.chunks.return(undefined);
  }
}
