import {
  STT_JETSTREAM,
  SttJobResult,
  SttJobStatus,
  SttSegment,
  type SttJobResult as SttJobResultT,
  type SttJobStatus as SttJobStatusT,
} from '@parley/contracts';
import {
  type KV,
  type KvEntry,
  type NatsConnection,
  type ObjectStore,
  StorageType,
  nanos,
} from 'nats';
import { z } from 'zod';
import { SttError } from './SttError';

/**
 * A finished window of a job: the checkpoint a redelivered job resumes from. Written once per
 * window, before its events are published, so what listeners saw is always recoverable.
 */
export const SttJobWindow = z.object({
  window: z.number().int().nonnegative(),
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  skipped: z.boolean(),
  segments: z.array(SttSegment),
  processMs: z.number().nonnegative(),
  workerId: z.string(),
  attempt: z.number().int().nonnegative(),
});
export type SttJobWindow = z.infer<typeof SttJobWindow>;

/** A change seen by {@link SttJobStore.watch}. */
export type SttJobChange =
  | { kind: 'state'; status: SttJobStatusT }
  | { kind: 'window'; window: SttJobWindow }
  | { kind: 'result'; result: SttJobResultT };

/** The storage a job runner and the orchestrator need (the JetStream one, or a fake in tests). */
export interface JobStore {
  getStatus(jobId: string): Promise<SttJobStatusT | undefined>;
  /** Stores a new job; false if one with that id exists. */
  createStatus(status: SttJobStatusT): Promise<boolean>;
  /**
   * Read-modify-write with optimistic concurrency: `fn` gets the current state and returns the new
   * one, or undefined to leave it. Returns the state after the call (undefined: no such job).
   */
  mutateStatus(
    jobId: string,
    fn: (s: SttJobStatusT) => SttJobStatusT | undefined,
  ): Promise<SttJobStatusT | undefined>;
  putWindow(jobId: string, window: SttJobWindow): Promise<void>;
  listWindows(jobId: string): Promise<SttJobWindow[]>;
  /** Stores the result once; false if a result exists (another delivery stored it). */
  createResult(result: SttJobResultT): Promise<boolean>;
  getResult(jobId: string): Promise<SttJobResultT | undefined>;
  putAudio(name: string, pcm: Uint8Array): Promise<void>;
  getAudio(name: string): Promise<Uint8Array | undefined>;
  deleteAudio(name: string): Promise<void>;
}

/** Options of {@link SttJobStore.open}. */
export interface SttJobStoreOptions {
  storage: 'file' | 'memory';
  /** How long states, results and audio are kept, ms. */
  ttlMs: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const stateKey = (jobId: string) => `${jobId}.state`;
const resultKey = (jobId: string) => `${jobId}.result`;
const windowKey = (jobId: string, window: number) =>
  `${jobId}.w.${String(window).padStart(6, '0')}`;

function parse<S extends z.ZodType>(schema: S, entry: KvEntry, what: string): z.output<S> {
  const r = schema.safeParse(JSON.parse(dec.decode(entry.value)));
  if (!r.success) throw new SttError('INTERNAL', `stored ${what} ${entry.key} is malformed`);
  return r.data;
}

/**
 * Jobs in JetStream: states, window checkpoints and results in a KV bucket (history kept, so a
 * second result for a job would be visible — `create` makes there never be one), decoded audio in
 * an object store. Shared by the orchestrator and the workers.
 */
export class SttJobStore implements JobStore {
  private constructor(
    readonly kv: KV,
    readonly objects: ObjectStore,
  ) {}

  /** Creates (or binds to) the KV bucket and the object store. */
  static async open(nc: NatsConnection, options: SttJobStoreOptions): Promise<SttJobStore> {
    const js = nc.jetstream();
    const storage = options.storage === 'memory' ? StorageType.Memory : StorageType.File;
    const kv = await js.views.kv(STT_JETSTREAM.kvBucket, {
      history: 4,
      ttl: options.ttlMs,
      storage,
    });
    // Careful: the object store takes its ttl in nanoseconds, the KV in milliseconds.
    const objects = await js.views.os(STT_JETSTREAM.objectBucket, {
      ttl: nanos(options.ttlMs),
      storage,
    });
    return new SttJobStore(kv, objects);
  }

  async getStatus(jobId: string): Promise<SttJobStatusT | undefined> {
    return (await this.#getStatusEntry(jobId))?.status;
  }

  async #getStatusEntry(
    jobId: string,
  ): Promise<{ status: SttJobStatusT; revision: number } | undefined> {
    const e = await this.kv.get(stateKey(jobId));
    if (!e || e.operation !== 'PUT') return undefined;
    return { status: parse(SttJobStatus, e, 'job state'), revision: e.revision };
  }

  async createStatus(status: SttJobStatusT): Promise<boolean> {
    try {
      await this.kv.create(stateKey(status.jobId), enc.encode(JSON.stringify(status)));
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async mutateStatus(
    jobId: string,
    fn: (s: SttJobStatusT) => SttJobStatusT | undefined,
  ): Promise<SttJobStatusT | undefined> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.#getStatusEntry(jobId);
      if (!current) return undefined;
      const next = fn(current.status);
      if (!next) return current.status;
      try {
        await this.kv.update(stateKey(jobId), enc.encode(JSON.stringify(next)), current.revision);
        return next;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        // Someone else wrote in between (cancel vs progress): read again and re-apply.
      }
    }
    throw new SttError('INTERNAL', `job ${jobId}: state kept changing under 20 updates`, {
      retryable: true,
    });
  }

  async putWindow(jobId: string, window: SttJobWindow): Promise<void> {
    await this.kv.put(windowKey(jobId, window.window), enc.encode(JSON.stringify(window)));
  }

  async listWindows(jobId: string): Promise<SttJobWindow[]> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys(`${jobId}.w.*`)) keys.push(k);
    keys.sort();
    const windows: SttJobWindow[] = [];
    for (const k of keys) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT') windows.push(parse(SttJobWindow, e, 'window'));
    }
    return windows.sort((a, b) => a.window - b.window);
  }

  async createResult(result: SttJobResultT): Promise<boolean> {
    try {
      await this.kv.create(resultKey(result.jobId), enc.encode(JSON.stringify(result)));
      return true;
    } catch (err) {
      if (isWrongLastSequence(err)) return false;
      throw err;
    }
  }

  async getResult(jobId: string): Promise<SttJobResultT | undefined> {
    const e = await this.kv.get(resultKey(jobId));
    if (!e || e.operation !== 'PUT') return undefined;
    return parse(SttJobResult, e, 'result');
  }

  /** Every stored revision of a job's result (tests: there must be exactly one). */
  async resultHistory(jobId: string): Promise<number> {
    let n = 0;
    for await (const e of await this.kv.history({ key: resultKey(jobId) })) {
      if (e.operation === 'PUT') n++;
    }
    return n;
  }

  async putAudio(name: string, pcm: Uint8Array): Promise<void> {
    await this.objects.putBlob({ name }, pcm);
  }

  /**
   * Reads an object. Bounded in time: nats.js waits forever for chunks that were purged while it
   * read them, and a worker must not hang on one job (the error is retryable).
   */
  async getAudio(name: string, timeoutMs = 120_000): Promise<Uint8Array | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new SttError('UNAVAILABLE', `reading audio ${name} took over ${timeoutMs} ms`, {
              retryable: true,
            }),
          ),
        timeoutMs,
      );
    });
    try {
      return (await Promise.race([this.objects.getBlob(name), timeout])) ?? undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  async deleteAudio(name: string): Promise<void> {
    await this.objects.delete(name).catch(() => undefined);
  }

  /**
   * Every change of a job in write order: first the current state, windows and result, then
   * updates as they happen. Ends when `signal` aborts.
   */
  async *watch(jobId: string, signal: AbortSignal): AsyncGenerator<SttJobChange> {
    const iter = await this.kv.watch({ key: `${jobId}.>` });
    const stop = () => iter.stop();
    signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const e of iter) {
        if (e.operation !== 'PUT') continue;
        if (e.key === stateKey(jobId)) {
          yield { kind: 'state', status: parse(SttJobStatus, e, 'job state') };
        } else if (e.key === resultKey(jobId)) {
          yield { kind: 'result', result: parse(SttJobResult, e, 'result') };
        } else if (e.key.startsWith(`${jobId}.w.`)) {
          yield { kind: 'window', window: parse(SttJobWindow, e, 'window') };
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      iter.stop();
    }
  }
}

/** JetStream's answer to a `create`/`update` whose expected revision does not match. */
function isWrongLastSequence(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { err_code?: number } };
  return (
    e?.api_error?.err_code === 10071 ||
    /wrong last sequence|key exists/i.test(String(e?.message ?? ''))
  );
}
