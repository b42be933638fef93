import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports';

/** A private server process for one test (never the shared one on the default port). */
export interface PrivateServer {
  url: string;
  port: number;
  /** Stops the process (SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data directory. */
  restart(): Promise<void>;
  /** Stops and removes its data. */
  dispose(): Promise<void>;
}

function stopProcess(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 3000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

async function privateServer(
  bin: string,
  args: (port: number, dir: string) => string[],
  scheme: string,
): Promise<PrivateServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'parley-srv-'));
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn(bin, args(port, dir), { stdio: 'ignore' });
    proc.on('error', () => undefined);
    await waitForPort(port);
  };
  await start();
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    stop: () => stopProcess(proc),
    restart: async () => {
      await stopProcess(proc);
      await start();
    },
    dispose: async () => {
      await stopProcess(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A private `nats-server -js` with file storage on a random port. */
export function startNatsServer(): Promise<PrivateServer> {
  return privateServer(
    process.env['PARLEY_NATS_SERVER_BIN'] ?? 'nats-server',
    (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
    'nats',
  );
}

/** A private `redis-server` (no persistence) on a random port. */
export function startRedisServer(): Promise<PrivateServer> {
  return privateServer(
    process.env['PARLEY_REDIS_SERVER_BIN'] ?? 'redis-server',
    (port, dir) => [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    'redis',
  );
}
