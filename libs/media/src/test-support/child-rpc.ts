import { type ChildProcess, fork } from 'node:child_process';

/**
 * Request/response over IPC with a Node child process hosting @roamhq/wrtc (which must live apart
 * from the test or bench process: see wrtc-child.cjs). The child answers `{ id, cmd, ...args }` with
 * `{ id, ok: true, result }` or `{ id, ok: false, error }`; when it exits, every pending call
 * rejects. The child is only ever SIGKILLed (wrtc crashes in its exit cleanup).
 */
export class ChildRpc {
  readonly #child: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;

  /** `script`: the child's file; `name`: how errors call it. */
  constructor(
    script: string,
    private readonly name = 'child',
  ) {
    this.#child = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.#child.on(
      'message',
      (msg: { id: number; ok: boolean; result?: unknown; error?: string }) => {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.ok) p?.resolve(msg.result);
        else p?.reject(new Error(msg.error));
      },
    );
    this.#child.on('exit', (code, signal) => {
      for (const p of this.#pending.values())
        p.reject(new Error(`${this.name} exited (${code ?? signal})`));
      this.#pending.clear();
    });
  }

  /** The child's pid (CPU accounting). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends `cmd` with `args`; resolves with the child's result. */
  request<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ id, cmd, ...args });
    });
  }

  /** SIGKILL, never a graceful exit. */
  kill(): void {
    this.#child.kill('SIGKILL');
  }
}
