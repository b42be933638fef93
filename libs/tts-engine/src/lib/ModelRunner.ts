import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

import * as ort from 'onnxruntime-node';

import { Semaphore } from './Semaphore';
import { TtsError } from './TtsError';
import { silentTtsLogger, type TtsLogger } from './TtsLogger';

/** One inference of a Piper model. */
export interface ModelRunInput {
  /** Phoneme ids (`^ _ … _ $`). */
  ids: readonly number[];
  /** `[noise_scale, length_scale, noise_w]`, in Piper's order. */
  scales: readonly [number, number, number];
  /** Speaker id, fed as `sid` when the model has that input. */
  speakerId?: number;
}

/** The result of one inference. */
export interface ModelRunOutput {
  /** Float samples from the model's first output (`[1, 1, 1, T]` flattened). */
  audio: Float32Array;
  /** Wall time of `session.run` itself, in milliseconds. */
  runMs: number;
}

/** Options shared by both runners. */
export interface ModelRunnerOptions {
  /**
   * Worker threads hosting onnxruntime sessions. `0` runs inference on the calling thread:
   * lowest overhead, but onnxruntime-node's `session.run` is synchronous and blocks the event
   * loop for the whole inference. With N >= 1, N sessions (one per worker) serve N requests
   * in parallel and the event loop stays free. Default 1.
   */
  workers?: number;
  /** Requests allowed to wait for a free session before `BUSY`. Default 64. */
  maxQueue?: number;
  /**
   * onnxruntime intra-op threads per session. Default: the machine's parallelism divided by
   * the number of sessions (so N workers do not oversubscribe the CPU); 0 lets onnxruntime
   * decide.
   */
  intraOpThreads?: number;
  /** Logger for worker restarts. */
  logger?: TtsLogger;
}

/** Names and metadata of a loaded model, for signature checks. */
export interface ModelSignature {
  inputNames: readonly string[];
  outputNames: readonly string[];
}

/** Runs a Piper ONNX model; created by {@link createModelRunner}. */
export interface ModelRunner {
  /** The model's input and output names. */
  readonly signature: ModelSignature;
  /** Sessions that can run at once. */
  readonly concurrency: number;
  /**
   * Runs one inference; waits for a free session first (abortable while waiting, FIFO; the
   * wait is queued synchronously when `run` is called). `onStart` is called when the session
   * is granted, right before inference. An inference that has started cannot be interrupted
   * (onnxruntime-node has no run termination); an abort then takes effect when it ends.
   */
  run(input: ModelRunInput, signal?: AbortSignal, onStart?: () => void): Promise<ModelRunOutput>;
  /** Releases the sessions (and workers). Pending waiters fail with `CLOSED`. */
  close(): Promise<void>;
}

function feedsFor(input: ModelRunInput, signature: ModelSignature): Record<string, ort.Tensor> {
  const ids = BigInt64Array.from(input.ids, (id) => BigInt(id));
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('int64', ids, [1, ids.length]),
    input_lengths: new ort.Tensor('int64', BigInt64Array.of(BigInt(ids.length)), [1]),
    scales: new ort.Tensor('float32', Float32Array.from(input.scales), [3]),
  };
  if (signature.inputNames.includes('sid')) {
    feeds['sid'] = new ort.Tensor('int64', BigInt64Array.of(BigInt(input.speakerId ?? 0)), [1]);
  }
  return feeds;
}

function sessionOptions(intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(intraOpThreads > 0 ? { intraOpNumThreads: intraOpThreads } : {}),
  };
}

function defaultIntraOp(sessions: number, requested: number | undefined): number {
  if (requested !== undefined) return requested;
  return Math.max(1, Math.floor(availableParallelism() / sessions));
}

function badModel(modelPath: string, err: unknown): TtsError {
  const message = err instanceof Error ? err.message : String(err);
  return new TtsError('BAD_VOICE_MODEL', `cannot load ONNX model ${modelPath}: ${message}`, {
    cause: err,
  });
}

/** Loads a model into a runner. Rejects with `BAD_VOICE_MODEL` if onnxruntime cannot load it. */
export async function createModelRunner(
  modelPath: string,
  options: ModelRunnerOptions = {},
): Promise<ModelRunner> {
  if (!existsSync(modelPath))
    throw new TtsError('BAD_VOICE_MODEL', `model file ${modelPath} does not exist`);
  const workers = options.workers ?? 1;
  if (!Number.isInteger(workers) || workers < 0)
    throw new TtsError('INVALID_OPTION', `workers must be >= 0, got ${workers}`);
  return workers === 0
    ? InlineRunner.load(modelPath, options)
    : WorkerRunner.load(modelPath, workers, options);
}

/** Inference on the calling thread. */
class InlineRunner implements ModelRunner {
  readonly concurrency = 1;
  readonly #semaphore: Semaphore;

  private constructor(
    readonly signature: ModelSignature,
    private readonly session: ort.InferenceSession,
    maxQueue: number,
  ) {
    this.#semaphore = new Semaphore(1, maxQueue);
  }

  static async load(modelPath: string, options: ModelRunnerOptions): Promise<InlineRunner> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(
        modelPath,
        sessionOptions(options.intraOpThreads ?? 0),
      );
    } catch (err) {
      throw badModel(modelPath, err);
    }
    return new InlineRunner(
      { inputNames: session.inputNames, outputNames: session.outputNames },
      session,
      options.maxQueue ?? 64,
    );
  }

  async run(
    input: ModelRunInput,
    signal?: AbortSignal,
    onStart?: () => void,
  ): Promise<ModelRunOutput> {
    const release = await this.#semaphore.acquire(signal);
    try {
      onStart?.();
      const feeds = feedsFor(input, this.signature);
      const started = performance.now();
      let results: ort.InferenceSession.ReturnType;
      try {
        results = await this.session.run(feeds);
      } catch (err) {
        throw new TtsError('ENGINE_FAILED', `onnxruntime run failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
      const runMs = performance.now() - started;
      const out = results[this.signature.outputNames[0]];
      return { audio: out.data as Float32Array, runMs };
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    this.#semaphore.close();
    await this.session.release();
  }
}

// The worker is plain CommonJS evaluated from a string so it needs no build step or asset copy;
// onnxruntime-node is resolved by the parent and passed in by absolute path.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
function tensors(m) {
  const feeds = {
    input: new ort.Tensor('int64', m.ids, [1, m.ids.length]),
    input_lengths: new ort.Tensor('int64', BigInt64Array.of(BigInt(m.ids.length)), [1]),
    scales: new ort.Tensor('float32', m.scales, [3]),
  };
  if (session.inputNames.includes('sid')) feeds.sid = new ort.Tensor('int64', BigInt64Array.of(BigInt(m.sid || 0)), [1]);
  return feeds;
}
parentPort.on('message', async (m) => {
  if (m.type !== 'run') return;
  try {
    const started = performance.now();
    const results = await session.run(tensors(m));
    const runMs = performance.now() - started;
    const data = results[session.outputNames[0]].data;
    // Copy into a plain buffer we own so it can be transferred without a second copy.
    const audio = new Float32Array(data.length);
    audio.set(data);
    parentPort.postMessage({ type: 'result', id: m.id, audio, runMs }, [audio.buffer]);
  } catch (err) {
    parentPort.postMessage({ type: 'error', id: m.id, message: String(err && err.message || err) });
  }
});
ort.InferenceSession.create(workerData.modelPath, workerData.sessionOptions).then(
  (s) => {
    session = s;
    parentPort.postMessage({ type: 'ready', inputNames: s.inputNames, outputNames: s.outputNames });
  },
  (err) => parentPort.postMessage({ type: 'fatal', message: String(err && err.message || err) }),
);
`;

type WorkerMessage =
  | { type: 'ready'; inputNames: string[]; outputNames: string[] }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; audio: Float32Array; runMs: number }
  | { type: 'error'; id: number; message: string };

interface Slot {
  worker: Worker;
  ready: Promise<ModelSignature>;
  busy: boolean;
  pending?: { id: number; resolve: (o: ModelRunOutput) => void; reject: (e: TtsError) => void };
  /** Settles when the inference the worker is running now has ended (even if nobody waits). */
  inflight?: Promise<void>;
  settle?: () => void;
}

/** How long close() lets running inferences finish before terminating their workers anyway. */
const CLOSE_GRACE_MS = 30_000;

function resolveOrt(): string {
  // Jest and @swc-node/register run this as CommonJS; elsewhere let the worker resolve it.
  return typeof require === 'function' ? require.resolve('onnxruntime-node') : 'onnxruntime-node';
}

/** Inference in worker threads, one session per worker. */
class WorkerRunner implements ModelRunner {
  readonly #slots: Slot[] = [];
  readonly #semaphore: Semaphore;
  readonly #logger: TtsLogger;
  #nextId = 1;
  #closed = false;

  private constructor(
    readonly signature: ModelSignature,
    readonly concurrency: number,
    private readonly workerData: Record<string, unknown>,
    maxQueue: number,
    logger: TtsLogger,
  ) {
    this.#semaphore = new Semaphore(concurrency, maxQueue);
    this.#logger = logger;
  }

  static async load(
    modelPath: string,
    workers: number,
    options: ModelRunnerOptions,
  ): Promise<WorkerRunner> {
    const workerData = {
      ortPath: resolveOrt(),
      modelPath,
      sessionOptions: sessionOptions(defaultIntraOp(workers, options.intraOpThreads)),
    };
    const slots = Array.from({ length: workers }, () => WorkerRunner.spawn(workerData));
    let signature: ModelSignature;
    try {
      [signature] = await Promise.all(slots.map((s) => s.ready));
    } catch (err) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw badModel(modelPath, err);
    }
    const runner = new WorkerRunner(
      signature,
      workers,
      workerData,
      options.maxQueue ?? 64,
      options.logger ?? silentTtsLogger,
    );
    for (const slot of slots) runner.#adopt(slot);
    return runner;
  }

  private static spawn(workerData: Record<string, unknown>): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    const ready = new Promise<ModelSignature>((resolve, reject) => {
      const onMessage = (m: WorkerMessage): void => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          // An idle worker must not keep the process alive; run() refs it while it works.
          worker.unref();
          resolve({ inputNames: m.inputNames, outputNames: m.outputNames });
        } else if (m.type === 'fatal') {
          worker.off('message', onMessage);
          reject(new Error(m.message));
        }
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
      worker.once('exit', (code) =>
        reject(new Error(`model worker exited with code ${code} while loading`)),
      );
    });
    ready.catch(() => undefined);
    return { worker, ready, busy: false };
  }

  #adopt(slot: Slot): void {
    this.#slots.push(slot);
    slot.worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'result' || m.type === 'error') {
        slot.settle?.();
        slot.settle = undefined;
        slot.inflight = undefined;
      }
      const pending = slot.pending;
      if (!pending || (m.type !== 'result' && m.type !== 'error') || m.id !== pending.id) return;
      slot.pending = undefined;
      if (m.type === 'result') pending.resolve({ audio: m.audio, runMs: m.runMs });
      else pending.reject(new TtsError('ENGINE_FAILED', `onnxruntime run failed: ${m.message}`));
    });
    const onDeath = (reason: string): void => {
      if (this.#closed || !this.#slots.includes(slot)) return;
      this.#logger.error('model worker died, replacing it', { reason });
      slot.pending?.reject(new TtsError('ENGINE_FAILED', `model worker died: ${reason}`));
      slot.pending = undefined;
      slot.settle?.();
      // The replacement starts idle: the run that held the dead slot has just been failed.
      const replacement = WorkerRunner.spawn(this.workerData);
      this.#slots.splice(this.#slots.indexOf(slot), 1);
      this.#adopt(replacement);
    };
    slot.worker.on('error', (err) => onDeath(err.message));
    slot.worker.on('exit', (code) => onDeath(`exit code ${code}`));
  }

  async run(
    input: ModelRunInput,
    signal?: AbortSignal,
    onStart?: () => void,
  ): Promise<ModelRunOutput> {
    const release = await this.#semaphore.acquire(signal);
    const slot = this.#slots.find((s) => !s.busy) as Slot;
    slot.busy = true;
    try {
      try {
        await slot.ready;
      } catch (err) {
        throw new TtsError(
          'ENGINE_FAILED',
          `model worker failed to start: ${(err as Error).message}`,
          { cause: err },
        );
      }
      onStart?.();
      const id = this.#nextId++;
      const ids = BigInt64Array.from(input.ids, (v) => BigInt(v));
      const scales = Float32Array.from(input.scales);
      slot.worker.ref();
      return await new Promise<ModelRunOutput>((resolve, reject) => {
        slot.pending = { id, resolve, reject };
        slot.inflight = new Promise<void>((settle) => (slot.settle = settle));
        slot.worker.postMessage({ type: 'run', id, ids, scales, sid: input.speakerId ?? 0 }, [
          ids.buffer,
          scales.buffer,
        ]);
      });
    } finally {
      slot.worker.unref();
      slot.busy = false;
      release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#semaphore.close();
    for (const slot of this.#slots) {
      slot.pending?.reject(new TtsError('CLOSED', 'model runner closed'));
      slot.pending = undefined;
    }
    // Terminating a worker in the middle of session.run aborts the whole process (onnxruntime-node
    // throws from native code into the torn-down environment): let running inferences end first.
    const inflight = this.#slots.flatMap((s) => (s.inflight ? [s.inflight] : []));
    if (inflight.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS);
        timer.unref();
      });
      const ended = await Promise.race([Promise.all(inflight).then(() => true), grace]);
      clearTimeout(timer);
      if (!ended)
        this.#logger.error('close() | inferences still running after the grace period', {
          graceMs: CLOSE_GRACE_MS,
        });
    }
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }
}
