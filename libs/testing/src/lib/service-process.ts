import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from './ports';

/** Root of the workspace (libs/testing/src/lib -> ../../../..). */
export const WORKSPACE_ROOT = join(__dirname, '..', '..', '..', '..');

/** A service started as a real process (`node -r @swc-node/register apps/<name>/src/main.ts`). */
export interface ServiceProcess {
  name: string;
  proc: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  /** Non-JSON output (stderr, crashes). */
  text: string[];
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * What the bootstrap's setup steps produced (worker binary, addon and model paths), from
 * `.parley/env.json`; empty when the bootstrap has not run.
 */
export function setupEnv(): Record<string, string> {
  const file = join(WORKSPACE_ROOT, '.parley', 'env.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>) : {};
}

/**
 * Starts an app as a child process. Its env is minimal (PATH, HOME, NODE_ENV=test) plus the setup
 * env, plus `env`: nothing else leaks from the test process.
 */
export function spawnService(name: string, env: Record<string, string>): ServiceProcess {
  const proc = spawn(
    process.execPath,
    ['-r', '@swc-node/register', join(WORKSPACE_ROOT, 'apps', name, 'src', 'main.ts')],
    {
      cwd: WORKSPACE_ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        NODE_ENV: 'test',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const onData = (buf: Buffer, carry: { rest: string }) => {
    const lines = (carry.rest + buf.toString('utf8')).split('\n');
    carry.rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        text.push(line);
      }
    }
  };
  const out = { rest: '' };
  const err = { rest: '' };
  proc.stdout?.on('data', (b: Buffer) => onData(b, out));
  proc.stderr?.on('data', (b: Buffer) => onData(b, err));
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code) => resolve(code)),
  );
  return {
    name,
    proc,
    logs,
    text,
    exited,
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Waits until `GET url` answers with the status. */
export async function waitForHttp(url: string, status = 200, timeoutMs = 30_000): Promise<void> {
  await eventually(async () => (await fetch(url)).status === status, timeoutMs, 100);
}

/**
 * The mediasoup worker binary: `MEDIASOUP_WORKER_BIN`, else what the bootstrap recorded, else the
 * setup step's answer (it builds or reuses the cached binary and prints the path).
 */
export function mediasoupWorkerBin(): string {
  const known = process.env['MEDIASOUP_WORKER_BIN'] || setupEnv()['MEDIASOUP_WORKER_BIN'];
  if (known) return known;
  const out = execFileSync(
    process.execPath,
    [join(WORKSPACE_ROOT, 'scripts', 'setup', 'mediasoup-worker.mjs')],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const bin = /"MEDIASOUP_WORKER_BIN":\s*"([^"]+)"/.exec(out)?.[1];
  if (!bin) throw new Error(`scripts/setup/mediasoup-worker.mjs printed no binary:\n${out}`);
  return bin;
}
