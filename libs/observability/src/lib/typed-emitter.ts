import { EventEmitter } from 'node:events';

/**
 * The logging surface engine libraries need (a winston logger satisfies it), so engines stay
 * testable without a logger and free of winston types.
 */
export interface EngineLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything (tests, defaults). */
export const silentLogger: EngineLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Event name -> listener argument tuple, as in mediasoup (`{ closed: [reason: string] }`). */
export type EventMap = { [event: string]: unknown[] };

/**
 * A typed event emitter, mediasoup style. `safeEmit` isolates listener errors: a throwing
 * listener is logged and never breaks the entity emitting (a worker replacement must not stop,
 * nor synthesis fail, because an observer threw). Used as a base class (entities) or as a
 * separate `observer` (monitoring never listens on the entity itself).
 */
export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();

  constructor(protected readonly logger: EngineLogger = silentLogger) {
    // Rooms can have many listeners (one per subscribed connection): no leak warning.
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

  /** Drops every listener (after `closed` has been emitted). */
  removeAllListeners(): void {
    this.#emitter.removeAllListeners();
  }
}
