type Listener = (...args: unknown[]) => void;

/** Event name -> listener argument tuple. */
export type EventMap = Record<string, unknown[]>;

/**
 * A tiny typed event emitter that runs in browsers and Node alike (no `node:events`). A throwing
 * listener does not stop the others; its error goes to `onListenerError`.
 */
export class Emitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener>>();

  constructor(private readonly onListenerError: (err: unknown) => void = () => undefined) {}

  /** Adds a listener; returns a function removing it. */
  on<K extends keyof E>(event: K, fn: (...args: E[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as unknown as Listener);
    return () => this.off(event, fn);
  }

  /** Adds a listener called at most once. */
  once<K extends keyof E>(event: K, fn: (...args: E[K]) => void): () => void {
    const off = this.on(event, (...args) => {
      off();
      fn(...args);
    });
    return off;
  }

  /** Removes a listener. */
  off<K extends keyof E>(event: K, fn: (...args: E[K]) => void): void {
    this.listeners.get(event)?.delete(fn as unknown as Listener);
  }

  /** Calls every listener of an event. */
  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...(args as unknown[]));
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }
}
