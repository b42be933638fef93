import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { type Socket, connect as netConnect, createServer } from 'node:net';
import { ChildRpc } from '@parley/media/testing';
import { mediasoupWorkerBin } from '@parley/testing';
import { join } from 'node:path';
import { mintToken } from '@parley/auth';
import type { WsMethod, WsRequestData, WsResponseData } from '@parley/contracts';
import type { Writable } from 'node:stream';
import * as wsPackage from 'ws';
import { benchLine, percentile, round } from './stats';

/**
 * join: N joins (default 1000, C concurrent, default 50) through the real signaling and SFU
 * processes, each measured from WebSocket connect to a send and a recv transport created and
 * connected (`join {createTransports}` and 2× `connectTransport`; with PARLEY_BENCH_JOIN_SEPARATE=1
 * `join`, 2× `createTransport`, 2× `connectTransport`). Every `DTLS_EVERY`-th join does
 * it with real libwebrtc peer connections (a child process) and counts as done only when ICE + DTLS completed on both
 * transports. Private nats-server, the shared Redis under a fresh key prefix.
 *
 * Prints the CPU time per join of each process (signaling, SFU and its mediasoup workers,
 * nats-server, Redis, the bench client itself and its libwebrtc child) from /proc.
 *
 *   npm run bench -- join [n] [concurrency] [dtlsEvery]
 */
const ROOT = join(__dirname, '..', '..', '..');
const N = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 50);
const DTLS_EVERY = Number(process.argv[4] ?? 20);
/** PARLEY_BENCH_JOIN_SEPARATE=1: `createTransport` requests after the join (the long way). */
const SEPARATE_CREATE = process.env['PARLEY_BENCH_JOIN_SEPARATE'] === '1';
const PROFILE_DIR = process.env['PARLEY_BENCH_CPU_PROF'];
const REDIS = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TENANT = {
  tenant: 'bench',
  apiKey: 'APIbench001',
  apiSecret: 'bench-secret-0123456789abcdefghijklmnop',
};
const FAKE_DTLS = {
  role: 'client' as const,
  fingerprints: [{ algorithm: 'sha-256', value: Array.from({ length: 32 }, () => 'AB').join(':') }],
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function service(name: string, env: Record<string, string>): ChildProcess {
  const p = spawn(
    process.execPath,
    [
      // PARLEY_BENCH_CPU_PROF=<dir>: V8 CPU profiles of the services, written when they stop.
      ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
      '-r',
      '@swc-node/register',
      join(ROOT, 'apps', name, 'src', 'main.ts'),
    ],
    {
      cwd: ROOT,
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: process.env['HOME'] ?? '',
        NODE_ENV: 'production',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  return p;
}

function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 8000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

/** CPU time (user + system) of a process, ms; 0 when it is gone. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) in clock ticks (USER_HZ = 100 on Linux).
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** Pids whose parent is `ppid` (the SFU's mediasoup workers) or whose command is `comm`. */
function pidsWhere(test: (ppid: number, comm: string) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (test(ppid, comm)) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** The `ws` package's frame parser (exported, but not in its type declarations). */
const { Receiver } = wsPackage as unknown as {
  Receiver: new (opts: { isServer: boolean; maxPayload: number }) => Writable;
};
const maskPool = Buffer.alloc(4096);
let maskOffset = maskPool.length;

/** A masked client frame (RFC 6455 5.2): text, or close with a status code. */
function clientFrame(opcode: 1 | 8, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + len);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(len, 2);
  else if (ext === 8) out.writeBigUInt64BE(BigInt(len), 2);
  if (maskOffset + 4 > maskPool.length) {
    randomFillSync(maskPool);
    maskOffset = 0;
  }
  const m = 2 + ext;
  maskPool.copy(out, m, maskOffset, maskOffset + 4);
  maskOffset += 4;
  for (let k = 0; k < len; k++)
    out[m + 4 + k] = (payload[k] as number) ^ (out[m + (k & 3)] as number);
  return out;
}

/**
 * Minimal protocol client (request/response by id) on a bare TCP socket: the RFC 6455 handshake
 * written by hand (the `http` client machinery costs the bench more CPU than a browser's native
 * stack would), masked frames out, the `ws` package's frame parser in.
 */
class Conn {
  private id = 1;
  private closed = false;
  private readonly pending = new Map<
    number,
    { resolve: (d: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(
    private readonly socket: Socket,
    head: Buffer,
  ) {
    const receiver = new Receiver({ isServer: false, maxPayload: 1 << 20 });
    receiver.on('message', (b: Buffer) => {
      const m = JSON.parse(b.toString('utf8')) as {
        type: string;
        id?: number;
        ok?: boolean;
        data?: unknown;
        error?: { code: string; message: string };
      };
      if (m.type !== 'response' || typeof m.id !== 'number') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.data);
      else p?.reject(new Error(`${m.error?.code}: ${m.error?.message}`));
    });
    receiver.on('conclude', (code: number, reason: Buffer) => {
      this.fail(new Error(`closed ${code} ${reason.toString()}`));
      this.close(code === 1005 ? 1000 : code);
    });
    receiver.on('error', (err: Error) => {
      this.fail(err);
      socket.destroy();
    });
    socket.on('data', (d: Buffer) => receiver.write(d));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('closed')));
    if (head.length) receiver.write(head);
  }

  static open(host: string, port: number, path: string): Promise<Conn> {
    const key = randomBytes(16).toString('base64');
    const accept = createHash('sha1')
      .update(key + WS_GUID)
      .digest('base64');
    const socket = netConnect({ host, port });
    socket.setNoDelay(true);
    return new Promise((resolve, reject) => {
      let buf: Buffer = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('error', reject);
        const head = buf.subarray(0, end).toString('latin1');
        if (
          !/^HTTP\/1\.1 101 /.test(head) ||
          /\r\nsec-websocket-accept: *(\S+)/i.exec(head)?.[1] !== accept
        ) {
          socket.destroy();
          reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
          return;
        }
        resolve(new Conn(socket, buf.subarray(end + 4)));
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('connect', () =>
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
    });
  }

  request<M extends WsMethod>(method: M, data: WsRequestData<M>): Promise<WsResponseData<M>> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const id = this.id++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      const json = JSON.stringify({ type: 'request', id, method, data });
      this.socket.write(clientFrame(1, Buffer.from(json)));
    });
  }

  private fail(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Sends a close frame (or answers the server's) and ends the TCP connection. */
  close(code = 1000): void {
    if (this.closed) return;
    this.closed = true;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.socket.end(clientFrame(8, payload));
  }
}

type Transport = WsResponseData<'createTransport'>;

function remoteSdp(
  t: Transport,
  mid: string,
  pt: number,
  setup: string,
  direction: string,
): string {
  const fps = t.dtlsParameters['fingerprints'] as { algorithm: string; value: string }[];
  const fp = fps.find((f) => f.algorithm === 'sha-256') ?? fps[0];
  const ice = t.iceParameters as { usernameFragment: string; password: string };
  const cands = t.iceCandidates as {
    foundation: string;
    protocol: string;
    priority: number;
    address: string;
    port: number;
    tcpType?: string;
  }[];
  return [
    'v=0',
    `o=mediasoup ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${mid}`,
    `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
    'c=IN IP4 127.0.0.1',
    `a=ice-ufrag:${ice.usernameFragment}`,
    `a=ice-pwd:${ice.password}`,
    ...cands.map(
      (c) =>
        `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ host` +
        (c.protocol === 'tcp' ? ` tcptype ${c.tcpType ?? 'passive'}` : ''),
    ),
    'a=end-of-candidates',
    `a=fingerprint:${fp?.algorithm} ${fp?.value}`,
    `a=setup:${setup}`,
    `a=mid:${mid}`,
    `a=${direction}`,
    'a=rtcp-mux',
    `a=rtpmap:${pt} opus/48000/2`,
    '',
  ].join('\r\n');
}

function dtlsOf(sdp: string) {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1] ?? 'actpass';
  return {
    role: setup === 'passive' ? ('server' as const) : ('client' as const),
    fingerprints: [
      { algorithm: (fp?.[1] ?? 'sha-256').toLowerCase(), value: (fp?.[2] ?? '').toUpperCase() },
    ],
  };
}

/**
 * The real ICE + DTLS sample's client: libwebrtc (@roamhq/wrtc, the stack Chrome runs) in a child
 * process (wrtc-dtls.child.cjs), so a sampled join pays a browser's native handshake and the
 * bench's event loop stays free for the other joins.
 */
function nativeDtls(): ChildRpc {
  return new ChildRpc(join(__dirname, 'wrtc-dtls.child.cjs'), 'wrtc child');
}

/** Send + recv transports connected with real ICE/DTLS (libwebrtc in the child). */
async function realDtls(
  native: ChildRpc,
  c: Conn,
  send: Transport,
  recv: Transport,
): Promise<() => void> {
  const key = send.transportId;
  const cleanup = () => void native.request('close', { key }).catch(() => undefined);
  try {
    const { sdp: offer } = await native.request<{ sdp: string }>('offer', { key });
    const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? '0';
    const pt = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(offer)?.[1] ?? 111);
    const { sdp: answer } = await native.request<{ sdp: string }>('complete', {
      key,
      txAnswer: remoteSdp(send, mid, pt, 'passive', 'recvonly'),
      rxOffer: remoteSdp(recv, '0', 100, 'actpass', 'sendonly'),
    });
    await Promise.all([
      c.request('connectTransport', {
        transportId: send.transportId,
        dtlsParameters: dtlsOf(offer),
      }),
      c.request('connectTransport', {
        transportId: recv.transportId,
        dtlsParameters: dtlsOf(answer),
      }),
    ]);
    await native.request('connected', { key, timeoutMs: 10_000 });
    return cleanup;
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** A participant token, as the tenant's back end mints it before the client connects. */
async function tokenFor(i: number): Promise<string> {
  return (await mintToken({ ...TENANT, identity: `user-${i}`, room: `bench-${i % 50}` })).token;
}

/** Where the signaling WebSocket listens. */
interface WsTarget {
  host: string;
  port: number;
  path: string;
}

async function oneJoin(
  ws: WsTarget,
  i: number,
  native: ChildRpc | undefined,
  token: string,
): Promise<number> {
  const identity = `user-${i}`;
  const t0 = performance.now();
  const c = await Conn.open(ws.host, ws.port, `${ws.path}?token=${token}`);
  let cleanup: (() => void) | undefined;
  try {
    let send: Transport | undefined;
    let recv: Transport | undefined;
    if (SEPARATE_CREATE) {
      await c.request('join', { displayName: identity });
      [send, recv] = await Promise.all([
        c.request('createTransport', { direction: 'send' }),
        c.request('createTransport', { direction: 'recv' }),
      ]);
    } else {
      // The transports come with the join (`createTransports`): two requests and one round trip fewer.
      const j = await c.request('join', { displayName: identity, createTransports: true });
      send = j.createdTransports?.find((t) => t.direction === 'send');
      recv = j.createdTransports?.find((t) => t.direction === 'recv');
      if (!send || !recv) throw new Error('join did not answer both transports');
    }
    if (native) cleanup = await realDtls(native, c, send, recv);
    else {
      await Promise.all([
        c.request('connectTransport', { transportId: send.transportId, dtlsParameters: FAKE_DTLS }),
        c.request('connectTransport', { transportId: recv.transportId, dtlsParameters: FAKE_DTLS }),
      ]);
    }
    const ms = performance.now() - t0;
    await c.request('leave', {});
    return ms;
  } finally {
    cleanup?.();
    c.close();
  }
}

async function main(): Promise<void> {
  const run = Date.now().toString(36);
  const [natsPort, natsMonitorPort] = [await freePort(), await freePort()];
  const nats = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', String(natsPort), '-m', String(natsMonitorPort)],
    { stdio: 'ignore' },
  );
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const [sfuPort, sigPort] = [await freePort(), await freePort()];
  let sfu: ChildProcess | undefined;
  let sig: ChildProcess | undefined;
  const native = nativeDtls();
  try {
    await native.request('ready');
    sfu = service('sfu', {
      NATS_URL: natsUrl,
      SFU_HTTP_PORT: String(sfuPort),
      SFU_LISTEN_IP: '127.0.0.1',
      SFU_RTC_PORT_BASE: '0',
      PARLEY_NODE_ID: `sfu-bench-${run}`,
      MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
      LOG_LEVEL: 'warn',
    });
    sig = service('signaling', {
      NATS_URL: natsUrl,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `bench-${run}:`,
      SIGNALING_HTTP_PORT: String(sigPort),
      SIGNALING_TENANT_KEYS: JSON.stringify([TENANT]),
      SIGNALING_RATE_CONNECT_IP: '100000/1s',
      SIGNALING_RATE_JOIN_TENANT: '100000/1s',
      SIGNALING_RATE_WS_TENANT: '1000000/1s',
      PARLEY_NODE_ID: `signaling-bench-${run}`,
      LOG_LEVEL: 'warn',
    });
    await Promise.all([
      waitReady(`http://127.0.0.1:${sfuPort}/ready`),
      waitReady(`http://127.0.0.1:${sigPort}/ready`),
    ]);
    const wsUrl: WsTarget = { host: '127.0.0.1', port: sigPort, path: '/v1/ws' };
    for (let i = 0; i < 20; i++)
      await oneJoin(
        wsUrl,
        1_000_000 + i,
        i % 5 === 0 ? native : undefined,
        await tokenFor(1_000_000 + i),
      );
    // Tokens come from the tenant's back end before a client connects: minted up front, so the
    // bench client's own signing does not compete with the servers for the CPU during the run.
    const tokens: string[] = [];
    for (let i = 0; i < N; i++) tokens.push(await tokenFor(i));

    const all: number[] = [];
    const dtls: number[] = [];
    const errors = new Map<string, number>();
    let next = 0;
    const workers = pidsWhere((ppid) => ppid === sfu?.pid);
    const redis = pidsWhere((_, comm) => comm === 'redis-server');
    const cpu = () => {
      const self = process.cpuUsage();
      return {
        signaling: cpuMs(sig?.pid),
        sfu: cpuMs(sfu?.pid),
        workers: workers.reduce((a, p) => a + cpuMs(p), 0),
        nats: cpuMs(nats.pid),
        redis: redis.reduce((a, p) => a + cpuMs(p), 0),
        bench: (self.user + self.system) / 1000,
        dtlsClient: cpuMs(native.pid),
      };
    };
    // Messages through nats-server and commands run by Redis per join (Redis is shared: other
    // clients' commands count too), for the CPU figures above.
    const natsMsgs = async () => {
      const v = (await (await fetch(`http://127.0.0.1:${natsMonitorPort}/varz`)).json()) as {
        in_msgs: number;
      };
      return v.in_msgs;
    };
    const msgs0 = await natsMsgs();
    const cpu0 = cpu();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < N; i = next++) {
          const real = DTLS_EVERY > 0 && i % DTLS_EVERY === 0;
          try {
            const ms = await oneJoin(wsUrl, i, real ? native : undefined, tokens[i] as string);
            all.push(ms);
            if (real) dtls.push(ms);
          } catch (err) {
            const key = String((err as Error).message).slice(0, 80);
            errors.set(key, (errors.get(key) ?? 0) + 1);
          }
          if (process.stdout.isTTY && all.length % 50 === 0)
            process.stdout.write(`\r  ${all.length}/${N}`);
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const cpu1 = cpu();
    const perJoin = Object.fromEntries(
      Object.entries(cpu1).map(([k, v]) => [k, round((v - cpu0[k as keyof typeof cpu0]) / N, 2)]),
    );
    const natsPerJoin = round(((await natsMsgs()) - msgs0) / N, 1);
    process.stdout.write(
      `cpu ms per join: ${JSON.stringify(perJoin)} (redis is shared); NATS messages per join: ${natsPerJoin}\n`,
    );
    if (process.stdout.isTTY) process.stdout.write('\n');
    if (errors.size)
      process.stdout.write(`errors: ${JSON.stringify(Object.fromEntries(errors))}\n`);
    process.stdout.write(
      `joins: n=${N} concurrency=${CONCURRENCY} ok=${all.length} in ${seconds.toFixed(1)} s (${(all.length / seconds).toFixed(0)}/s); ` +
        `real ICE+DTLS sample n=${dtls.length} p50=${round(percentile(dtls, 50), 1)} ms p95=${round(percentile(dtls, 95), 1)} ms\n`,
    );
    benchLine('join', {
      n: N,
      ok: all.length,
      p50_ms: round(percentile(all, 50), 1),
      p95_ms: round(percentile(all, 95), 1),
      p99_ms: round(percentile(all, 99), 1),
      dtls_n: dtls.length,
      dtls_p95_ms: round(percentile(dtls, 95), 1),
      concurrency: CONCURRENCY,
      requests: SEPARATE_CREATE ? 5 : 3,
      cpu_sig_ms: perJoin['signaling'] ?? 0,
      cpu_sfu_ms: round((perJoin['sfu'] ?? 0) + (perJoin['workers'] ?? 0), 2),
      cpu_bench_ms: perJoin['bench'] ?? 0,
      cpu_dtls_client_ms: perJoin['dtlsClient'] ?? 0,
    });
  } finally {
    native.kill();
    await stop(sig);
    await stop(sfu);
    nats.kill('SIGTERM');
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`join bench failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
