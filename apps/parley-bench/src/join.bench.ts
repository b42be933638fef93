import 'reflect-metadata';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mediasoupWorkerBin } from '@parley/testing';
import { join } from 'node:path';
import { mintToken } from '@parley/auth';
import type { WsMethod, WsRequestData, WsResponseData } from '@parley/contracts';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { WebSocket } from 'ws';
import { benchLine, percentile, round } from './stats';

/**
 * join: N joins (default 1000, C concurrent, default 50) through the real signaling and SFU
 * processes, each measured from WebSocket connect to a send and a recv transport created and
 * connected (`join`, 2× `createTransport`, 2× `connectTransport`). Every `DTLS_EVERY`-th join does
 * it with real werift peer connections and counts as done only when ICE + DTLS completed on both
 * transports. Private nats-server, the shared Redis under a fresh key prefix.
 *
 *   npm run bench -- join [n] [concurrency]
 */
const ROOT = join(__dirname, '..', '..', '..');
const N = Number(process.argv[2] ?? 1000);
const CONCURRENCY = Number(process.argv[3] ?? 50);
const DTLS_EVERY = Number(process.argv[4] ?? 20);
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
    ['-r', '@swc-node/register', join(ROOT, 'apps', name, 'src', 'main.ts')],
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

/** Minimal protocol client (request/response by id). */
class Conn {
  private id = 1;
  private readonly pending = new Map<
    number,
    { resolve: (d: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (b: Buffer) => {
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
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('closed'));
      this.pending.clear();
    });
  }

  static open(url: string): Promise<Conn> {
    const ws = new WebSocket(url);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Conn(ws)));
      ws.once('error', reject);
      ws.once('close', (code, reason) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    });
  }

  request<M extends WsMethod>(method: M, data: WsRequestData<M>): Promise<WsResponseData<M>> {
    const id = this.id++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  close(): void {
    this.ws.close();
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

function pcNew(): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
  });
}

function connected(pc: RTCPeerConnection, timeoutMs = 10_000): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`DTLS not connected (${pc.connectionState})`)),
      timeoutMs,
    );
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        clearTimeout(t);
        resolve();
      } else if (s === 'failed') {
        clearTimeout(t);
        reject(new Error('peer connection failed'));
      }
    });
  });
}

/** Send + recv transports connected with real ICE/DTLS (werift). */
async function realDtls(c: Conn, send: Transport, recv: Transport): Promise<() => void> {
  const tx = pcNew();
  tx.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
  await tx.setLocalDescription(await tx.createOffer());
  const offer = tx.localDescription?.sdp ?? '';
  const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? '0';
  const pt = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(offer)?.[1] ?? 111);
  await tx.setRemoteDescription({
    type: 'answer',
    sdp: remoteSdp(send, mid, pt, 'passive', 'recvonly'),
  });
  const rx = pcNew();
  await rx.setRemoteDescription({
    type: 'offer',
    sdp: remoteSdp(recv, '0', 100, 'actpass', 'sendonly'),
  });
  await rx.setLocalDescription(await rx.createAnswer());
  await Promise.all([
    c.request('connectTransport', { transportId: send.transportId, dtlsParameters: dtlsOf(offer) }),
    c.request('connectTransport', {
      transportId: recv.transportId,
      dtlsParameters: dtlsOf(rx.localDescription?.sdp ?? ''),
    }),
  ]);
  await Promise.all([connected(tx), connected(rx)]);
  return () => {
    void tx.close();
    void rx.close();
  };
}

async function oneJoin(wsUrl: string, i: number, dtls: boolean): Promise<number> {
  const identity = `user-${i}`;
  const { token } = await mintToken({ ...TENANT, identity, room: `bench-${i % 50}` });
  const t0 = performance.now();
  const c = await Conn.open(`${wsUrl}?token=${token}`);
  let cleanup: (() => void) | undefined;
  try {
    await c.request('join', { displayName: identity });
    const [send, recv] = await Promise.all([
      c.request('createTransport', { direction: 'send' }),
      c.request('createTransport', { direction: 'recv' }),
    ]);
    if (dtls) cleanup = await realDtls(c, send, recv);
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
  const natsPort = await freePort();
  const nats = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort)], {
    stdio: 'ignore',
  });
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const [sfuPort, sigPort] = [await freePort(), await freePort()];
  let sfu: ChildProcess | undefined;
  let sig: ChildProcess | undefined;
  try {
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
    const wsUrl = `ws://127.0.0.1:${sigPort}/v1/ws`;
    for (let i = 0; i < 20; i++) await oneJoin(wsUrl, 1_000_000 + i, i % 5 === 0);

    const all: number[] = [];
    const dtls: number[] = [];
    const errors = new Map<string, number>();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < N; i = next++) {
          const real = DTLS_EVERY > 0 && i % DTLS_EVERY === 0;
          try {
            const ms = await oneJoin(wsUrl, i, real);
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
    });
  } finally {
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
