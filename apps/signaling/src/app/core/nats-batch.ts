import { Injectable } from '@nestjs/common';
import { context } from '@opentelemetry/api';

/**
 * Issues the NATS sends of one event-loop turn together: each queued send runs (in the OTel
 * context it was queued in) from one `setImmediate`, so nats.js, which flushes once per microtask
 * checkpoint, writes them to the socket in one write instead of one write per WebSocket frame
 * that caused them. Idle, a send waits one loop turn; under load the requests of many joins leave
 * together (the same idea as the Redis connection's auto-pipelining). Order is kept.
 */
@Injectable()
export class NatsBatch {
  private queue: Array<() => void> = [];
  private scheduled = false;

  /** Runs `send` in the next batch; resolves or rejects with it. */
  run<T>(send: () => Promise<T>): Promise<T> {
    const ctx = context.active();
    return new Promise<T>((resolve, reject) => {
      this.push(() => {
        let p: Promise<T>;
        try {
          p = context.with(ctx, send);
        } catch (err) {
          reject(err);
          return;
        }
        p.then(resolve, reject);
      });
    });
  }

  /** Runs a fire-and-forget `send` in the next batch; what it throws goes to `onError`. */
  fire(send: () => void, onError: (err: unknown) => void): void {
    const ctx = context.active();
    this.push(() => {
      try {
        context.with(ctx, send);
      } catch (err) {
        onError(err);
      }
    });
  }

  private push(fn: () => void): void {
    this.queue.push(fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const list = this.queue;
    this.queue = [];
    for (const fn of list) fn();
  }
}
