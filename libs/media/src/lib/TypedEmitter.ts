import { EventEmitter } from 'node:events';

import type { MediaLogger } from './MediaLogger';

/** Event name -> listener argument tuple, as in mediasoup (`{ closed: [reason: string] }`). */
export type EventMap = { [event: string]: unknown[] };

/**
 * A typed event emitter. `safeEmit` isolates listener errors: a throwing listener is logged and
 * never breaks the entity emitting (a worker replacement must not stop because a listener threw).
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor(protected readonly logger: MediaLogger) {
    // Rooms can have many listeners (one per subscribed signaling connection); no leak warning.
    this.#emitter.setMaxListeners(Infinity);
  }

  /** Adds a listener. */
  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Adds a one-shot listener. */
  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Removes a listener. */
  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Number of listeners for an event. */
  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }

  /** Emits to every listener, logging (not propagating) listener errors. */
  protected safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    const listeners = this.#emitter.listeners(event) as ((...a: E[K]) => void)[];
    for (const listener of listeners) {
      try {
        listener(...args);
      } catch (err) {
        this.logger.error('safeEmit() | event listener threw', {
          event,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    return listeners.length > 0;
  }

  /** Drops every listener (after `closed` has been emitted). */
  protected removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
