import { type SttPriority } from './SttEngine';

interface Waiter {
  grant: (release: () => void) => void;
  fail: (err: unknown) => void;
  cleanup: () => void;
}

/**
 * A mutex with two FIFO queues: when the holder releases, the oldest `realtime` waiter goes before
 * any `batch` waiter. This is what makes realtime work pre-empt a long job processed in windows:
 * each window is a separate `batch` acquisition, so realtime requests that arrived meanwhile run
 * before the next window.
 */
export class PriorityLock {
  #held = false;
  readonly #queues: Record<SttPriority, Waiter[]> = { realtime: [], batch: [] };

  /** Waiters not yet granted. */
  get pending(): number {
    return this.#queues.realtime.length + this.#queues.batch.length;
  }

  /** Whether someone holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /**
   * Resolves with a `release` function once the lock is ours. Rejects with `signal.reason` if the
   * signal aborts while waiting (the waiter is removed from the queue).
   */
  acquire(priority: SttPriority, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const queue = this.#queues[priority];
      const onAbort = () => {
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        grant: resolve,
        fail: reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  /** Rejects every waiter with `err` (the holder keeps the lock until it releases). */
  rejectAll(err: unknown): void {
    for (const q of [this.#queues.realtime, this.#queues.batch]) {
      for (const w of q.splice(0)) {
        w.cleanup();
        w.fail(err);
      }
    }
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queues.realtime.shift() ?? this.#queues.batch.shift();
      if (next) {
        next.cleanup();
        next.grant(this.#releaser());
      } else {
        this.#held = false;
      }
    };
  }
}
