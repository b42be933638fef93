import { EventEmitter } from 'node:events';

import type { TtsLogger } from './TtsLogger';

/** Event name -> listener argument tuple, as in mediasoup (`{ closed: [] }`). */
export type EventMap = { [event: string]: unknown[] };

/**
 * A typed event emitter. `safeEmit` isolates listener errors: a throwing observer is logged and
 * never breaks synthesis.
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor(private readonly logger: TtsLogger) {
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

  /** Emits to every listener, logging (not propagating) listener errors. */
  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
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

  /** Drops every listener. */
  removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
