import { readFile } from 'node:fs/promises';
import { basename, resolve as resolvePath } from 'node:path';

import { EspeakPhonemizer, type EspeakPhonemizerOptions } from './EspeakPhonemizer';
import { createModelRunner, type ModelRunner, type ModelRunnerOptions } from './ModelRunner';
import { floatToPcm16 } from './pcm';
import { BOS, EOS, PAD, phonemesToIds, splitPhonemes } from './PhonemeIds';
import { screenText, type UnspeakableCharacter } from './ScriptGuard';
import { splitSentences } from './SentenceSplitter';
import { normalizeText } from './TextNormalizer';
import { TtsError, throwIfAborted } from './TtsError';
import { silentTtsLogger, type TtsLogger } from './TtsLogger';
import { TypedEmitter } from './TypedEmitter';
import type { AudioChunk, SynthesisOptions, SynthesisResult } from './types';
import { parseVoiceConfigText, type VoiceConfig } from './VoiceConfig';

/** Options of {@link PiperVoice.load}. */
export interface PiperVoiceOptions extends ModelRunnerOptions {
  /** Voice name; default the model file name without `.onnx`. */
  name?: string;
  /** Config path; default `<model>.json` (Piper's convention). */
  configPath?: string;
  /**
   * A phonemizer to share with other voices of the same espeak-ng voice. Not closed by
   * `close()`. Default: the voice starts (and owns) its own.
   */
  phonemizer?: EspeakPhonemizer;
  /** Options for the voice's own phonemizer (binary, data path, timeout). */
  espeak?: Omit<EspeakPhonemizerOptions, 'voice' | 'logger'>;
  /** Longest accepted text in characters (`TEXT_TOO_LONG` beyond). Default 5000. */
  maxChars?: number;
  /** Sentences longer than this are cut at clause boundaries. Default 400. */
  maxSentenceChars?: number;
  /**
   * Sentences synthesised ahead of the consumer of a stream. 1 (default) keeps one sentence
   * in flight while the previous one is being played or sent.
   */
  lookahead?: number;
  /** Run one tiny inference at load so the first request does not pay onnxruntime's warm-up. Default true. */
  warmup?: boolean;
  /** Logger. */
  logger?: TtsLogger;
}

/** Events of {@link PiperVoice.observer}, for metrics and tests. */
export type PiperVoiceObserverEvents = {
  /** A model run started (its session permit was granted). */
  runstart: [{ requestId: number; index: number; phonemeIdCount: number }];
  /** A model run finished. */
  runend: [{ requestId: number; index: number; inferenceMs: number; samples: number }];
  /** The voice was closed. */
  close: [];
};

/** Synthesis options with the voice's defaults filled in, as the model receives them. */
export interface ResolvedSynthesisOptions {
  /** `[noise_scale, length_scale, noise_w]`, in Piper's order. */
  scales: [number, number, number];
  /** Speaker id fed as `sid` (undefined for single-speaker voices). */
  speakerId?: number;
  /** Zero samples appended after every sentence but the last. */
  silenceSamples: number;
  /** Per-sentence peak normalisation. */
  normalize: boolean;
  /** Policy for characters the voice cannot speak. */
  unspeakable: 'error' | 'drop';
  /** Cut a long first sentence after its first clause (0 or absent = off). */
  firstChunkChars?: number;
}

interface PreparedRequest {
  requestId: number;
  sentences: string[];
  normalized: string[];
  params: ResolvedSynthesisOptions;
  dropped: UnspeakableCharacter[];
}

function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TtsError(
      'INVALID_OPTION',
      `${name} must be a number in ${min}..${max}, got ${String(value)}`,
    );
  }
}

/**
 * A loaded Piper voice: its config, one onnxruntime session per worker (created once and
 * reused), and an espeak-ng phonemizer. Synthesis runs text → sentences → normalisation →
 * espeak-ng IPA with Piper's punctuation → phoneme ids → model → 16-bit PCM, one chunk per
 * sentence; concurrency across requests is bounded by the number of sessions.
 */
export class PiperVoice {
  /** Voice name. */
  readonly name: string;
  /** Absolute model path. */
  readonly modelPath: string;
  /** Validated config. */
  readonly config: VoiceConfig;
  /** Observer for runs and close; never affects synthesis. */
  readonly observer: TypedEmitter<PiperVoiceObserverEvents>;
  readonly #runner: ModelRunner;
  readonly #phonemizer: EspeakPhonemizer;
  readonly #ownsPhonemizer: boolean;
  readonly #logger: TtsLogger;
  readonly #maxChars: number;
  readonly #maxSentenceChars: number;
  readonly #lookahead: number;
  #nextRequestId = 1;
  #closed = false;

  private constructor(init: {
    name: string;
    modelPath: string;
    config: VoiceConfig;
    runner: ModelRunner;
    phonemizer: EspeakPhonemizer;
    ownsPhonemizer: boolean;
    options: PiperVoiceOptions;
  }) {
    this.name = init.name;
    this.modelPath = init.modelPath;
    this.config = init.config;
    this.#runner = init.runner;
    this.#phonemizer = init.phonemizer;
    this.#ownsPhonemizer = init.ownsPhonemizer;
    this.#logger = init.options.logger ?? silentTtsLogger;
    this.#maxChars = init.options.maxChars ?? 5000;
    this.#maxSentenceChars = init.options.maxSentenceChars ?? 400;
    this.#lookahead = Math.max(0, init.options.lookahead ?? 1);
    this.observer = new TypedEmitter(this.#logger);
  }

  /**
   * Loads `<model>.onnx` and its `.onnx.json`. Rejects with `BAD_VOICE_CONFIG` (config missing,
   * not JSON, not a Piper config, or an espeak-ng voice espeak-ng lacks), `BAD_VOICE_MODEL`
   * (model missing, not loadable, or without Piper's inputs) or `PHONEMIZER_FAILED`.
   */
  static async load(modelPath: string, options: PiperVoiceOptions = {}): Promise<PiperVoice> {
    const logger = options.logger ?? silentTtsLogger;
    const absModel = resolvePath(modelPath);
    const configPath = resolvePath(options.configPath ?? `${absModel}.json`);
    let configText: string;
    try {
      configText = await readFile(configPath, 'utf8');
    } catch (err) {
      throw new TtsError(
        'BAD_VOICE_CONFIG',
        `cannot read voice config ${configPath}: ${(err as Error).message}`,
        {
          cause: err,
          details: { source: configPath },
        },
      );
    }
    const config = parseVoiceConfigText(configText, configPath);
    const runner = await createModelRunner(absModel, { ...options, logger });
    let phonemizer: EspeakPhonemizer | undefined;
    try {
      const inputs = runner.signature.inputNames;
      const missing = ['input', 'input_lengths', 'scales'].filter((n) => !inputs.includes(n));
      if (missing.length > 0 || runner.signature.outputNames.length === 0) {
        throw new TtsError(
          'BAD_VOICE_MODEL',
          `${absModel} is not a Piper model: missing inputs ${missing.join(', ') || '(none)'}; inputs are ${inputs.join(', ')}`,
        );
      }
      if (config.numSpeakers > 1 && !inputs.includes('sid')) {
        throw new TtsError(
          'BAD_VOICE_MODEL',
          `${configPath} declares ${config.numSpeakers} speakers but the model has no "sid" input`,
        );
      }
      if (options.phonemizer && options.phonemizer.voice !== config.espeakVoice) {
        throw new TtsError(
          'INVALID_OPTION',
          `shared phonemizer speaks "${options.phonemizer.voice}", voice needs "${config.espeakVoice}"`,
        );
      }
      phonemizer =
        options.phonemizer ??
        (await EspeakPhonemizer.create({ ...options.espeak, voice: config.espeakVoice, logger }));
      if (options.warmup ?? true) {
        const map = config.phonemeIdMap;
        const ids = [BOS, PAD, EOS].flatMap((s) => map.get(s) ?? []);
        await runner.run({
          ids,
          scales: [
            config.inference.noiseScale,
            config.inference.lengthScale,
            config.inference.noiseW,
          ],
          speakerId: config.numSpeakers > 1 ? 0 : undefined,
        });
      }
    } catch (err) {
      await runner.close();
      if (!options.phonemizer) phonemizer?.close();
      throw err;
    }
    const name = options.name ?? basename(absModel).replace(/\.onnx$/u, '');
    logger.info('PiperVoice.load() | voice loaded', {
      voice: name,
      sampleRate: config.sampleRate,
      speakers: config.numSpeakers,
      sessions: runner.concurrency,
    });
    return new PiperVoice({
      name,
      modelPath: absModel,
      config,
      runner,
      phonemizer,
      ownsPhonemizer: !options.phonemizer,
      options,
    });
  }

  /** Output sample rate. */
  get sampleRate(): number {
    return this.config.sampleRate;
  }

  /** Longest accepted text in characters. */
  get maxChars(): number {
    return this.#maxChars;
  }

  /** Sessions that run at once. */
  get concurrency(): number {
    return this.#runner.concurrency;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Resolves a speaker name or id to the model's speaker id (`undefined` for single-speaker
   * voices). Throws `UNKNOWN_SPEAKER`.
   */
  resolveSpeaker(speaker: string | number | undefined): number | undefined {
    const { numSpeakers, speakerIdMap } = this.config;
    if (speaker === undefined || speaker === '') return numSpeakers > 1 ? 0 : undefined;
    let id: number | undefined;
    if (typeof speaker === 'number') id = speaker;
    else if (speakerIdMap.has(speaker)) id = speakerIdMap.get(speaker);
    else if (/^\d+$/u.test(speaker)) id = Number(speaker);
    if (id === undefined || !Number.isInteger(id) || id < 0 || id >= numSpeakers) {
      const names = [...speakerIdMap.keys()].slice(0, 20);
      throw new TtsError(
        'UNKNOWN_SPEAKER',
        `voice "${this.name}" has no speaker ${JSON.stringify(speaker)}` +
          (numSpeakers > 1
            ? ` (ids 0..${numSpeakers - 1}${names.length ? `, names ${names.join(', ')}` : ''})`
            : ' (single-speaker voice)'),
        { details: { voice: this.name, speaker } },
      );
    }
    return numSpeakers > 1 ? id : undefined;
  }

  /**
   * Synthesises text sentence by sentence. Validation (empty, too long, unspeakable, unknown
   * speaker, bad options) happens here, synchronously, before any audio. Iterating yields one
   * {@link AudioChunk} per sentence in order; the last one has `final: true`. Aborting `signal`
   * (or leaving the loop early) stops the engine: no further model run starts, and iteration
   * throws `ABORTED`.
   */
  synthesizeStream(text: string, options: SynthesisOptions = {}, signal?: AbortSignal): TtsStream {
    const request = this.#prepare(text, options);
    return new TtsStream(this, request, signal, (req, i, ctl) => this.#renderPipeline(req, i, ctl));
  }

  /** Synthesises text to one PCM buffer (all sentences). */
  async synthesize(
    text: string,
    options: SynthesisOptions = {},
    signal?: AbortSignal,
  ): Promise<SynthesisResult> {
    const stream = this.synthesizeStream(text, options, signal);
    const chunks: AudioChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    const total = chunks.reduce((n, c) => n + c.pcm.length, 0);
    const pcm = new Int16Array(total);
    let offset = 0;
    for (const c of chunks) {
      pcm.set(c.pcm, offset);
      offset += c.pcm.length;
    }
    return {
      pcm,
      sampleRate: this.sampleRate,
      durationSeconds: total / this.sampleRate,
      sentences: chunks.map(({ pcm: p, ...rest }) => ({ ...rest, samples: p.length })),
      dropped: stream.dropped,
    };
  }

  /**
   * Runs the model on phoneme ids directly (no text processing) and returns 16-bit PCM. For
   * callers with their own phonemes, and to measure the engine against a raw `session.run`.
   */
  async synthesizeIds(
    ids: readonly number[],
    options: Omit<SynthesisOptions, 'unspeakable' | 'sentenceSilenceSeconds'> = {},
    signal?: AbortSignal,
  ): Promise<Int16Array> {
    this.#checkOpen();
    if (ids.length === 0) throw new TtsError('EMPTY_TEXT', 'no phoneme ids');
    const params = this.resolveOptions(options);
    throwIfAborted(signal);
    const { audio } = await this.#runner.run(
      { ids, scales: params.scales, speakerId: params.speakerId },
      signal,
    );
    throwIfAborted(signal);
    return floatToPcm16(audio, params.normalize);
  }

  /** The IPA and phoneme ids the voice would synthesise for each sentence of `text`. */
  async phonemize(
    text: string,
    options: Pick<SynthesisOptions, 'unspeakable'> = {},
  ): Promise<
    Array<{
      text: string;
      phonemes: string;
      ids: number[];
      missingPhonemes: Record<string, number>;
    }>
  > {
    const request = this.#prepare(text, options);
    return Promise.all(
      request.normalized.map(async (sentence, i) => {
        const phonemes = await this.#phonemizer.phonemizeSentence(sentence);
        const { ids, missing } = phonemesToIds(splitPhonemes(phonemes, this.config), this.config);
        return {
          text: request.sentences[i],
          phonemes,
          ids,
          missingPhonemes: Object.fromEntries(missing),
        };
      }),
    );
  }

  /** Releases the sessions and, if owned, the phonemizer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#runner.close();
    if (this.#ownsPhonemizer) this.#phonemizer.close();
    this.observer.safeEmit('close');
    this.observer.removeAllListeners();
  }

  #checkOpen(): void {
    if (this.#closed) throw new TtsError('CLOSED', `voice "${this.name}" is closed`);
  }

  /**
   * Validates options and fills in the voice's defaults: what the model will be fed. Throws
   * `INVALID_OPTION` or `UNKNOWN_SPEAKER`. Equal results mean equal audio for equal text, which
   * makes this the parameter part of a cache key.
   */
  resolveOptions(options: SynthesisOptions): ResolvedSynthesisOptions {
    checkRange('lengthScale', options.lengthScale, 0.1, 10);
    checkRange('noiseScale', options.noiseScale, 0, 5);
    checkRange('noiseW', options.noiseW, 0, 5);
    checkRange('sentenceSilenceSeconds', options.sentenceSilenceSeconds, 0, 10);
    checkRange('firstChunkChars', options.firstChunkChars, 0, 10_000);
    if (
      options.unspeakable !== undefined &&
      options.unspeakable !== 'error' &&
      options.unspeakable !== 'drop'
    ) {
      throw new TtsError(
        'INVALID_OPTION',
        `unspeakable must be "error" or "drop", got ${String(options.unspeakable)}`,
      );
    }
    const d = this.config.inference;
    return {
      scales: [
        options.noiseScale ?? d.noiseScale,
        options.lengthScale ?? d.lengthScale,
        options.noiseW ?? d.noiseW,
      ],
      speakerId: this.resolveSpeaker(options.speaker),
      silenceSamples: Math.round((options.sentenceSilenceSeconds ?? 0) * this.sampleRate),
      normalize: options.normalize ?? true,
      unspeakable: options.unspeakable ?? 'error',
      firstChunkChars: options.sentenceSilenceSeconds ? 0 : (options.firstChunkChars ?? 0),
    };
  }

  #prepare(text: string, options: SynthesisOptions): PreparedRequest {
    this.#checkOpen();
    if (typeof text !== 'string' || text.trim().length === 0) {
      throw new TtsError('EMPTY_TEXT', 'text is empty');
    }
    if (text.length > this.#maxChars) {
      throw new TtsError(
        'TEXT_TOO_LONG',
        `text has ${text.length} characters; the limit is ${this.#maxChars}`,
        {
          details: { length: text.length, limit: this.#maxChars },
        },
      );
    }
    const params = this.resolveOptions(options);
    const screened = screenText(text.normalize('NFC'), this.config.espeakVoice, params.unspeakable);
    const sentences: string[] = [];
    const normalized: string[] = [];
    const split = {
      maxChars: this.#maxSentenceChars,
      ...(params.firstChunkChars ? { firstMaxChars: params.firstChunkChars } : {}),
    };
    for (const sentence of splitSentences(screened.text, split)) {
      // A sentence left with nothing to say (only punctuation) would be a click of silence.
      if (!/[\p{L}\p{N}]/u.test(sentence)) continue;
      sentences.push(sentence);
      normalized.push(normalizeText(sentence, this.config.espeakVoice));
    }
    if (sentences.length === 0) {
      throw new TtsError(
        'UNSPEAKABLE_TEXT',
        'text has no sentence with letters or digits to speak',
      );
    }
    if (screened.dropped.length > 0) {
      this.#logger.debug('synthesize() | dropped unspeakable characters', {
        voice: this.name,
        characters: screened.dropped.map((d) => d.codePoint),
      });
    }
    return {
      requestId: this.#nextRequestId++,
      sentences,
      normalized,
      params,
      dropped: screened.dropped,
    };
  }

  /**
   * Renders sentence `index`: phonemise, map to ids, wait for the previous sentence's run to
   * have started (so runs keep sentence order), run, convert.
   */
  async #renderPipeline(
    request: PreparedRequest,
    index: number,
    ctl: RenderControl,
  ): Promise<AudioChunk> {
    const { signal } = ctl;
    const phonemes = await this.#phonemizer.phonemizeSentence(request.normalized[index]);
    const phonemizedAt = performance.now();
    throwIfAborted(signal);
    const { ids, missing } = phonemesToIds(splitPhonemes(phonemes, this.config), this.config);
    if (missing.size > 0) {
      this.#logger.warn('synthesize() | phonemes missing from the voice id map were skipped', {
        voice: this.name,
        missing: Object.fromEntries(missing),
      });
    }
    await ctl.previousStarted;
    throwIfAborted(signal);
    const { params } = request;
    let runStartedAt = 0;
    const runPromise = this.#runner.run(
      { ids, scales: params.scales, speakerId: params.speakerId },
      signal,
      () => {
        runStartedAt = performance.now();
        this.observer.safeEmit('runstart', {
          requestId: request.requestId,
          index,
          phonemeIdCount: ids.length,
        });
      },
    );
    // run() asks the FIFO semaphore for a permit synchronously, so the next sentence may queue
    // behind this one from now on and runs stay in sentence order.
    ctl.markStarted();
    const { audio, runMs } = await runPromise;
    const runEndedAt = performance.now();
    throwIfAborted(signal);
    const last = index === request.sentences.length - 1;
    const pcm = floatToPcm16(audio, params.normalize, last ? 0 : params.silenceSamples);
    const readyAt = performance.now();
    this.observer.safeEmit('runend', {
      requestId: request.requestId,
      index,
      inferenceMs: runMs,
      samples: pcm.length,
    });
    return {
      index,
      text: request.sentences[index],
      phonemes,
      phonemeIdCount: ids.length,
      pcm,
      sampleRate: this.sampleRate,
      final: last,
      inferenceMs: runMs,
      missingPhonemes: Object.fromEntries(missing),
      timing: { phonemizedAt, runStartedAt, runEndedAt, readyAt },
    };
  }

  /** @internal Lookahead used by streams. */
  get lookahead(): number {
    return this.#lookahead;
  }
}

/** @internal Per-sentence control handed to the render pipeline. */
interface RenderControl {
  signal: AbortSignal;
  previousStarted: Promise<void>;
  markStarted: () => void;
}

type Renderer = (
  request: PreparedRequest,
  index: number,
  ctl: RenderControl,
) => Promise<AudioChunk>;

/**
 * The audio of one request, as an async iterable of per-sentence chunks. Iterate it once.
 * `sentences`, `sampleRate` and `dropped` are known before the first chunk, so a server can
 * send headers right away.
 */
export class TtsStream implements AsyncIterable<AudioChunk> {
  /** Request number within the voice (matches observer events). */
  readonly requestId: number;
  /** The sentences that will be spoken, in order. */
  readonly sentences: readonly string[];
  /** Samples per second of every chunk. */
  readonly sampleRate: number;
  /** Characters dropped under the `drop` policy. */
  readonly dropped: UnspeakableCharacter[];
  #iterated = false;

  /** @internal */
  constructor(
    private readonly voice: PiperVoice,
    private readonly request: PreparedRequest,
    private readonly signal: AbortSignal | undefined,
    private readonly render: Renderer,
  ) {
    this.requestId = request.requestId;
    this.sentences = request.sentences;
    this.sampleRate = voice.sampleRate;
    this.dropped = request.dropped;
  }

  [Symbol.asyncIterator](): AsyncIterator<AudioChunk> {
    if (this.#iterated)
      throw new TtsError('INVALID_OPTION', 'a TtsStream can be iterated only once');
    this.#iterated = true;
    return this.#iterate();
  }

  async *#iterate(): AsyncGenerator<AudioChunk> {
    const n = this.request.sentences.length;
    const controller = new AbortController();
    const external = this.signal;
    const onAbort = (): void => controller.abort(external?.reason);
    if (external?.aborted) onAbort();
    else external?.addEventListener('abort', onAbort, { once: true });
    const aborted = new Promise<never>((_, reject) => {
      const fail = (): void =>
        reject(
          new TtsError('ABORTED', 'synthesis was aborted', { cause: controller.signal.reason }),
        );
      if (controller.signal.aborted) fail();
      else controller.signal.addEventListener('abort', fail, { once: true });
    });
    aborted.catch(() => undefined);

    const renders: Array<Promise<AudioChunk>> = [];
    let previousStarted: Promise<void> = Promise.resolve();
    const start = (i: number): void => {
      let markStarted!: () => void;
      const started = new Promise<void>((r) => (markStarted = r));
      const p = this.render(this.request, i, {
        signal: controller.signal,
        previousStarted,
        markStarted,
      });
      // If the render fails before its run starts, later sentences must not wait forever.
      p.then(markStarted, markStarted);
      p.catch(() => undefined);
      previousStarted = started;
      renders[i] = p;
    };
    try {
      for (let i = 0; i < n; i++) {
        throwIfAborted(controller.signal);
        for (let k = i; k <= Math.min(n - 1, i + this.voice.lookahead); k++)
          if (!renders[k]) start(k);
        const chunk = await Promise.race([renders[i], aborted]);
        yield chunk;
      }
    } finally {
      // Early exit (break, error, abort): stop everything still queued or pending.
      controller.abort(new TtsError('ABORTED', 'stream closed'));
      external?.removeEventListener('abort', onAbort);
    }
  }
}
