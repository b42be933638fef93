import { basename } from 'node:path';
import { readGgmlModelInfo } from './GgmlModel';
import { PriorityLock } from './PriorityLock';
import {
  STT_SAMPLE_RATE,
  type SttEngine,
  type SttEngineState,
  type SttLoadOptions,
  type SttModelInfo,
  type SttNativeTiming,
  type SttPriority,
  type SttResult,
  type SttSegment,
  type SttTranscribeOptions,
} from './SttEngine';
import { SttEngineError } from './SttEngineError';
import { type SttLogger, silentSttLogger } from './SttLogger';
import {
  loadWhisperAddon,
  type WhisperAddon,
  type WhisperNativeModel,
  type WhisperNativeSegment,
  type WhisperNativeTimings,
} from './WhisperAddon';
import {
  FULL_AUDIO_CONTEXT,
  MIN_SAMPLES,
  normalizeSegments,
  resolveTranscribeOptions,
  toNativeParams,
  validateAudio,
} from './WhisperParams';

/** Construction options of {@link WhisperEngine}. */
export interface WhisperEngineOptions {
  /**
   * Path of the native addon. Default: smart-whisper's `build/Release/smart-whisper.node`, where
   * `scripts/setup/whisper.mjs` installs the native build (it also returns the cached path as
   * `PARLEY_WHISPER_ADDON` for apps to pass here).
   */
  addonPath?: string;
  /** Let whisper.cpp log to stderr (model details, timings). Default false. */
  nativeLogs?: boolean;
  /** Structured logger. */
  logger?: SttLogger;
  /**
   * A batch call starts (or restarts after a pre-emption) only this long after the last realtime
   * call ended. Realtime work comes in bursts (people talk in turns): a window that starts right
   * after one realtime call would make the next one wait for its encoder, which whisper.cpp cannot
   * abort. Costs batch work at most this much per realtime call. Default 0.
   */
  batchYieldMs?: number;
}

const now = () => performance.now();

/** The native call holding the engine, and how to pre-empt it (batch calls that allow it). */
interface RunningCall {
  priority: SttPriority;
  preempt?: () => void;
}

/**
 * whisper.cpp in-process (smart-whisper's N-API addon, built natively for this CPU).
 *
 * Per call: greedy decoding, temperature fallback off, one segment per clip up to 30 s, the
 * encoder context shrunk to the clip, a token budget proportional to the audio — the settings that
 * make a 4 s utterance cost a few hundred ms instead of seconds. Calls are serialised through a
 * priority lock (realtime before batch) and can be aborted mid-flight.
 */
export class WhisperEngine implements SttEngine {
  readonly #logger: SttLogger;
  readonly #addonPath?: string;
  readonly #nativeLogs: boolean;
  readonly #lock = new PriorityLock();
  #addon?: WhisperAddon;
  #state: SttEngineState = 'idle';
  #model?: SttModelInfo;
  #native?: WhisperNativeModel;
  #threads = 2;
  #running?: RunningCall;
  readonly #batchYieldMs: number;
  #lastRealtimeEnd = -Infinity;

  constructor(options: WhisperEngineOptions = {}) {
    this.#logger = options.logger ?? silentSttLogger;
    this.#addonPath = options.addonPath;
    this.#nativeLogs = options.nativeLogs ?? false;
    this.#batchYieldMs = options.batchYieldMs ?? 0;
  }

  get state(): SttEngineState {
    return this.#state;
  }

  get model(): SttModelInfo | undefined {
    return this.#model;
  }

  get pending(): number {
    return this.#lock.pending;
  }

  async load(modelPath: string, options: SttLoadOptions = {}): Promise<SttModelInfo> {
    if (this.#state === 'closed') throw new SttEngineError('CLOSED', 'engine is closed');
    const threads = options.threads ?? 2;
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new SttEngineError(
        'BAD_OPTIONS',
        `threads must be an integer in [1, 64], got ${threads}`,
      );
    }
    // Validate before touching native code: whisper.cpp aborts the process on some bad files.
    const info = readGgmlModelInfo(modelPath);
    const addon = this.#loadAddon();

    const release = await this.#lock.acquire('realtime');
    const previous = this.#state;
    try {
      this.#assertUsable(); // close() may have run while we waited
      this.#state = 'loading';
      if (this.#native) {
        // Model swap (whisper-server's POST /load): free the old one first; memory is the limit.
        await this.#native.free();
        this.#native = undefined;
        this.#model = undefined;
      }
      const t0 = now();
      let native: WhisperNativeModel;
      try {
        native = await addon.WhisperModel.load(modelPath, options.gpu ?? false);
      } catch (err) {
        throw new SttEngineError(
          'MODEL_LOAD_FAILED',
          `whisper.cpp could not load ${modelPath}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      const loadMs = now() - t0;
      this.#native = native;
      this.#threads = threads;
      this.#model = { ...info, name: basename(modelPath), loadMs, threads };
      this.#state = 'ready';
      this.#logger.info('load() | model loaded', {
        model: this.#model.name,
        type: info.type,
        multilingual: info.multilingual,
        loadMs: Math.round(loadMs),
        threads,
      });
      if (options.warmup ?? true) await this.#warmUp(native, threads);
      if (info.synthetic) {
        this.#logger.warn(
          'load() | SYNTHETIC MODEL: random weights, transcripts are meaningless — set PARLEY_WHISPER_MODEL to real ggml weights',
          { model: modelPath },
        );
      }
      return this.#model;
    } catch (err) {
      if (this.#state === 'loading') this.#state = previous === 'ready' ? 'idle' : previous;
      throw err;
    } finally {
      release();
    }
  }

  async transcribe(pcm: Float32Array, options: SttTranscribeOptions = {}): Promise<SttResult> {
    const tStart = now();
    this.#assertUsable();
    validateAudio(pcm);
    const model = this.#model;
    if (!model && this.#state !== 'loading') {
      throw new SttEngineError('NOT_LOADED', 'no model loaded; call load() first');
    }
    const clipMs = (pcm.length * 1000) / STT_SAMPLE_RATE;
    const padded = pcm.length < MIN_SAMPLES ? padTo(pcm, MIN_SAMPLES) : pcm;
    const seconds = padded.length / STT_SAMPLE_RATE;
    // Validate against the current model now (fast failure), and again below if it was swapped.
    const resolve = (m: SttModelInfo) =>
      resolveTranscribeOptions(options, m, seconds, this.#threads);
    if (model) resolve(model);

    const signal = options.signal;
    const priority = options.priority ?? 'realtime';
    const maxPreemptions = priority === 'batch' ? (options.maxPreemptions ?? 0) : 0;
    if (!Number.isInteger(maxPreemptions) || maxPreemptions < 0) {
      throw new SttEngineError(
        'BAD_OPTIONS',
        `maxPreemptions must be an integer ≥ 0, got ${options.maxPreemptions}`,
      );
    }
    // Pre-empted once, the call rejects and its caller re-plans (see the option).
    const rejectWhenPreempted = priority === 'batch' && options.preemptible === true;
    // A realtime call ends a pre-emptible batch call now instead of waiting for it; the batch call
    // then queues again behind this one (see the retry below).
    if (priority === 'realtime') this.#running?.preempt?.();

    for (let preemptions = 0; ; preemptions++) {
      if (priority === 'batch') await this.#yieldToRealtime(signal);
      const outcome = await this.#attempt(padded, clipMs, options, resolve, {
        priority,
        signal,
        tStart,
        preemptible: rejectWhenPreempted || preemptions < maxPreemptions,
      });
      if (outcome === 'preempted' && rejectWhenPreempted) {
        throw new SttEngineError('ABORTED', 'pre-empted by a realtime call');
      }
      if (outcome === 'preempted') {
        this.#logger.debug('transcribe() | batch call pre-empted by a realtime call', {
          preemptions: preemptions + 1,
        });
        continue;
      }
      outcome.timing.preemptions = preemptions;
      return outcome;
    }
  }

  /** One lock acquisition + native call; `preempted` when a realtime call aborted it. */
  async #attempt(
    padded: Float32Array,
    clipMs: number,
    options: SttTranscribeOptions,
    resolve: (m: SttModelInfo) => ReturnType<typeof resolveTranscribeOptions>,
    ctx: { priority: SttPriority; signal?: AbortSignal; tStart: number; preemptible: boolean },
  ): Promise<SttResult | 'preempted'> {
    const { signal, tStart } = ctx;
    let release: () => void;
    try {
      release = await this.#lock.acquire(ctx.priority, signal);
    } catch (err) {
      if (err instanceof SttEngineError) throw err;
      throw new SttEngineError('ABORTED', 'transcription aborted while waiting', { cause: err });
    }
    const queuedMs = now() - tStart;
    try {
      // No state check here: a call holding the lock completes even if close() was called since
      // (close() waits for the lock before freeing the model).
      const native = this.#native;
      const current = this.#model;
      if (!native?.handle || !current) {
        throw this.#state === 'closed'
          ? new SttEngineError('CLOSED', 'engine is closed')
          : new SttEngineError('NOT_LOADED', 'no model loaded; call load() first');
      }
      const opts = resolve(current);
      if (signal?.aborted) throw new SttEngineError('ABORTED', 'transcription aborted');

      const progressive: WhisperNativeSegment[] = [];
      let emitted = 0;
      const onProgress = (seg: WhisperNativeSegment) => {
        // Segments of an attempt that may still be pre-empted are not final: report them only from
        // calls that cannot be restarted.
        if (!options.onSegment || signal?.aborted || ctx.preemptible) return;
        progressive.push(seg);
        const norm = normalizeSegments(progressive, clipMs, opts.offsetMs);
        for (; emitted < norm.length; emitted++) {
          try {
            options.onSegment(norm[emitted]);
          } catch (err) {
            this.#logger.error('transcribe() | onSegment listener threw', { error: String(err) });
          }
        }
      };

      const t0 = now();
      const abortFlag = new Int32Array(1);
      const nativeDone = new Promise<WhisperNativeSegment[] | Error>((resolveNative) => {
        try {
          this.#addon?.transcribe(
            native.handle as object,
            padded,
            toNativeParams(opts, abortFlag),
            resolveNative,
            onProgress,
          );
        } catch (err) {
          // Argument errors thrown synchronously by the addon: report like a native failure.
          resolveNative(err instanceof Error ? err : new Error(String(err)));
        }
      });
      let preempted = false;
      let finished = false;
      const running: RunningCall = {
        priority: ctx.priority,
        preempt: ctx.preemptible
          ? () => {
              if (finished || preempted) return;
              preempted = true;
              Atomics.store(abortFlag, 0, 1);
            }
          : undefined,
      };
      this.#running = running;
      // From here the lock is released when the native call ends — not earlier, even if the caller
      // is answered earlier: the context is in use until whisper_full returns.
      const releaseNow = release;
      release = () => undefined;
      void nativeDone.then(() => {
        finished = true;
        if (ctx.priority === 'realtime') this.#lastRealtimeEnd = now();
        if (this.#running === running) this.#running = undefined;
        releaseNow();
      });

      let onAbort: (() => void) | undefined;
      const aborted = new Promise<'aborted'>((resolveAbort) => {
        onAbort = () => {
          // whisper.cpp polls this between graph nodes and decode steps.
          Atomics.store(abortFlag, 0, 1);
          resolveAbort('aborted');
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      let result: WhisperNativeSegment[] | Error | 'aborted';
      try {
        // An aborted caller is answered at once; the native call winds down in the background.
        result = await Promise.race([nativeDone, aborted]);
      } finally {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      }
      const processMs = now() - t0;
      if (result === 'aborted' || signal?.aborted) {
        throw new SttEngineError('ABORTED', 'transcription aborted');
      }
      // Anything but an array is a native failure. (Not `instanceof Error`: the addon's errors come
      // from the main realm, which differs from a vm context's such as jest's.)
      if (!Array.isArray(result)) {
        // A pre-empted call that whisper finished anyway (the flag came too late) keeps its result.
        if (preempted) return 'preempted';
        const message = (result as { message?: unknown } | undefined)?.message;
        throw new SttEngineError('TRANSCRIBE_FAILED', `whisper_full failed: ${String(message)}`, {
          cause: result,
        });
      }
      if (options.onSegment && ctx.preemptible) {
        for (const seg of normalizeSegments(result, clipMs, opts.offsetMs)) {
          try {
            options.onSegment(seg);
          } catch (err) {
            this.#logger.error('transcribe() | onSegment listener threw', { error: String(err) });
          }
        }
      }

      const segments: SttSegment[] = normalizeSegments(result, clipMs, opts.offsetMs);
      const detected = result.find((s) => s.lang)?.lang;
      const totalMs = now() - tStart;
      const breakdown = nativeTiming((result as { timings?: WhisperNativeTimings }).timings);
      return {
        segments,
        text: segments.map((s) => s.text).join(' '),
        language: opts.language === 'auto' ? (detected ?? 'auto') : opts.language,
        tokens: segments.reduce((n, s) => n + s.tokens, 0),
        audioContext: opts.audioContext || FULL_AUDIO_CONTEXT,
        timing: {
          queuedMs,
          processMs,
          totalMs,
          audioMs: clipMs,
          realtimeFactor: processMs / clipMs,
          preemptions: 0,
          ...(breakdown ? { native: breakdown } : {}),
        },
      };
    } finally {
      release();
    }
  }

  /**
   * One short call on a fresh model (under the load's lock): allocates and touches whisper's
   * state and compute buffers, so the first real request costs what every later one does.
   * A failure here is logged, not fatal: the model is loaded.
   */
  async #warmUp(native: WhisperNativeModel, threads: number): Promise<void> {
    const t0 = now();
    const pcm = new Float32Array(MIN_SAMPLES);
    for (let i = 0; i < pcm.length; i++) pcm[i] = 0.1 * Math.sin(i * 0.05);
    const params = toNativeParams(
      {
        language: 'en',
        prompt: undefined,
        maxTokens: 4,
        temperature: 0,
        temperatureIncrement: 0,
        offsetMs: 0,
        singleSegment: true,
        audioContext: 64,
        threads,
        translate: false,
        priority: 'realtime',
      },
      new Int32Array(1),
    );
    const result = await new Promise<unknown>((resolve) => {
      try {
        this.#addon?.transcribe(native.handle as object, pcm, params, resolve, () => undefined);
      } catch (err) {
        resolve(err);
      }
    });
    if (!Array.isArray(result)) {
      this.#logger.warn('load() | warm-up call failed', { err: String(result) });
      return;
    }
    this.#logger.debug('load() | warmed up', { ms: Math.round(now() - t0) });
  }

  /** Waits until no realtime call ended within `batchYieldMs` (see the option). */
  async #yieldToRealtime(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.#lastRealtimeEnd + this.#batchYieldMs - now();
      if (wait <= 0) return;
      if (signal?.aborted) throw new SttEngineError('ABORTED', 'transcription aborted');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#lock.rejectAll(new SttEngineError('CLOSED', 'engine closed'));
    // Wait for the running call (native code still uses the context), then free it.
    const release = await this.#lock.acquire('realtime');
    try {
      await this.#native?.free();
    } finally {
      this.#native = undefined;
      release();
      this.#lock.rejectAll(new SttEngineError('CLOSED', 'engine closed'));
    }
    this.#logger.info('close() | engine closed');
  }

  #assertUsable(): void {
    if (this.#state === 'closed') throw new SttEngineError('CLOSED', 'engine is closed');
  }

  #loadAddon(): WhisperAddon {
    if (!this.#addon) {
      this.#addon = loadWhisperAddon(this.#addonPath);
      this.#addon.setLogging?.(this.#nativeLogs);
    }
    return this.#addon;
  }
}

/** The addon's per-call timings in engine terms (undefined from an addon without them). */
function nativeTiming(t: WhisperNativeTimings | undefined): SttNativeTiming | undefined {
  if (!t || typeof t.encodeMs !== 'number') return undefined;
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    initMs: r(t.initMs),
    melMs: r(t.melMs),
    encodeMs: r(t.encodeMs),
    decodeMs: r(t.decodeMs + t.batchdMs + t.promptMs),
    sampleMs: r(t.sampleMs),
    decodes: t.decodes + t.batchds + t.prompts,
  };
}

function padTo(pcm: Float32Array, samples: number): Float32Array {
  const out = new Float32Array(samples);
  out.set(pcm, 0);
  return out;
}
