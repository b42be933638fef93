import { TtsError } from './TtsError';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (err: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/**
 * A counting semaphore with a bounded FIFO queue and abortable waits. Bounds how many model runs
 * a voice executes at once; a full queue fails fast with `BUSY` instead of growing without end.
 */
export class Semaphore {
  #available: number;
  readonly #waiters: Waiter[] = [];
  #closed = false;

  /**
   * @param permits  concurrent holders allowed.
   * @param maxQueue waiters allowed beyond that before `acquire()` rejects with `BUSY`.
   */
  constructor(
    readonly permits: number,
    readonly maxQueue = Infinity,
  ) {
    if (!Number.isInteger(permits) || permits < 1)
      throw new RangeError(`permits must be >= 1, got ${permits}`);
    this.#available = permits;
  }

  /** Holders right now. */
  get inUse(): number {
    return this.permits - this.#available;
  }

  /** Waiters right now. */
  get queued(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves with a `release` function once a permit is free. Rejects with `ABORTED` if the
   * signal fires while waiting, `BUSY` if the queue is full, `CLOSED` after `close()`.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.#closed) return Promise.reject(new TtsError('CLOSED', 'semaphore closed'));
    if (signal?.aborted)
      return Promise.reject(
        new TtsError('ABORTED', 'aborted while waiting', { cause: signal.reason }),
      );
    if (this.#available > 0) {
      this.#available -= 1;
      return Promise.resolve(this.#releaser());
    }
    if (this.#waiters.length >= this.maxQueue) {
      return Promise.reject(
        new TtsError(
          'BUSY',
          `too many queued requests (${this.#waiters.length} waiting, limit ${this.maxQueue})`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(new TtsError('ABORTED', 'aborted while waiting', { cause: signal.reason }));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiters.push(waiter);
    });
  }

  /** Rejects every waiter with `CLOSED`; holders keep their permits until they release. */
  close(): void {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) {
      if (w.onAbort) w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(new TtsError('CLOSED', 'semaphore closed'));
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) {
        if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
        next.resolve(this.#releaser());
      } else {
        this.#available += 1;
      }
    };
  }
}
