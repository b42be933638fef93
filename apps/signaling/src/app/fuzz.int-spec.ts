import { randomUUID } from 'node:crypto';
import { WS_MAX_FRAME_BYTES, WS_METHODS } from '@parley/contracts';
import {
  type PrivateServer,
  type ServiceProcess,
  freePort,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import { WebSocket } from 'ws';
import { FakeSfu } from '../test-support/fake-sfu';
import { TENANTS, tokenFor } from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TOTAL = Number(process.env['PARLEY_FUZZ_MESSAGES'] ?? 100_000);
const WINDOW = 256;
const HEAP_LIMIT_MB = 128;
const SEED = Number(process.env['PARLEY_FUZZ_SEED'] ?? Date.now() % 1_000_000);

/** mulberry32: a seeded PRNG, so a failing run can be replayed with PARLEY_FUZZ_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The id the server must answer with: the envelope's id when readable, else null. */
function expectedId(sentText: string): string {
  // What arrives is the UTF-8 of the frame: a lone surrogate (a damaged emoji) becomes U+FFFD.
  const text = Buffer.from(sentText, 'utf8').toString('utf8');
  if (Buffer.byteLength(text) > WS_MAX_FRAME_BYTES) return 'null';
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return 'null';
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return 'null';
  const id = (raw as { id?: unknown }).id;
  if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= Number.MAX_SAFE_INTEGER)
    return `n${id}`;
  if (typeof id === 'string' && id.length >= 1 && id.length <= 64) return `s${id}`;
  return 'null';
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}

describe('signaling under fuzzing', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let proc: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    proc = spawnService('signaling', {
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_HTTP_PORT: String(port),
      SIGNALING_TENANT_KEYS: JSON.stringify(Object.values(TENANTS)),
      SIGNALING_RATE_WS_IDENTITY: '10000000/1s',
      SIGNALING_RATE_WS_TENANT: '10000000/1s',
      SIGNALING_RATE_JOIN_IDENTITY: '10000000/1s',
      SIGNALING_RATE_JOIN_TENANT: '10000000/1s',
      // Bounded memory, enforced: a leak of ~1 KiB per message would exhaust this heap and kill
      // the process long before 100 000 messages.
      NODE_OPTIONS: `--max-old-space-size=${HEAP_LIMIT_MB}`,
      SIGNALING_WS_BAD_FRAMES: '100000000',
      SIGNALING_WS_MAX_INFLIGHT: '1024',
      LOG_LEVEL: 'warn',
    });
    await waitForHttp(`${url}/ready`, 200, 60_000);
  });

  afterAll(async () => {
    await proc?.stop();
    await sfu?.stop();
    await nats?.dispose();
  });

  it(`answers each of ${TOTAL} random and mutated frames with a response or an error, stays ready, and its memory stays bounded`, async () => {
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
    const int = (n: number) => Math.floor(rnd() * n);

    const ws = new WebSocket(
      `${url.replace('http', 'ws')}/v1/ws?token=${await tokenFor(TENANTS.acme, 'fuzzer', 'fuzz-room')}`,
    );
    const outstanding = new Map<string, number>();
    let received = 0;
    let unexpected = 0;
    let okCount = 0;
    const codes = new Map<string, number>();
    let closed: string | undefined;
    let wake: (() => void) | undefined;
    let joinAnswer: Record<string, unknown> | undefined;
    ws.on('close', (code: number, reason: Buffer) => (closed = `${code} ${reason.toString()}`));
    ws.on('message', (buf: Buffer) => {
      const msg = JSON.parse(buf.toString('utf8')) as {
        type: string;
        id?: string | number | null;
        ok?: boolean;
        data?: Record<string, unknown>;
        error?: { code: string };
      };
      if (msg.type !== 'response') return;
      if (msg.id === 'join-1') joinAnswer = msg.data;
      const key =
        msg.id === null || msg.id === undefined
          ? 'null'
          : typeof msg.id === 'number'
            ? `n${msg.id}`
            : `s${msg.id}`;
      const left = outstanding.get(key) ?? 0;
      if (left <= 0) {
        unexpected++;
        if (process.env['FUZZ_DEBUG'])
          process.stdout.write(
            `UNEXPECTED ${key} ${JSON.stringify(msg).slice(0, 300)}\n${debugSent
              .filter((t) => t.includes(String(msg.id)))
              .map((t) => t.slice(0, 400))
              .join('\n')}\n`,
          );
      } else if (left === 1) outstanding.delete(key);
      else outstanding.set(key, left - 1);
      received++;
      if (msg.ok) okCount++;
      else codes.set(msg.error?.code ?? '?', (codes.get(msg.error?.code ?? '?') ?? 0) + 1);
      wake?.();
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let sent = 0;
    const debugSent: string[] = [];
    const send = (text: string | Buffer) => {
      const key = typeof text === 'string' ? expectedId(text) : 'null';
      outstanding.set(key, (outstanding.get(key) ?? 0) + 1);
      if (process.env['FUZZ_DEBUG'] && typeof text === 'string') debugSent.push(`${key} ${text}`);
      sent++;
      ws.send(text, { binary: typeof text !== 'string' });
    };
    const settle = async (maxOutstanding: number) => {
      while (sent - received > maxOutstanding && !closed) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 2000);
        });
      }
    };

    // A real join first, so the mutated requests reach real handlers (transports, producers...).
    send(
      JSON.stringify({
        type: 'request',
        id: 'join-1',
        method: 'join',
        data: { displayName: 'Fuzz' },
      }),
    );
    await settle(0);
    expect(joinAnswer).toHaveProperty('peerId');
    send(
      JSON.stringify({
        type: 'request',
        id: 'tr-1',
        method: 'createTransport',
        data: { direction: 'send' },
      }),
    );
    await settle(0);
    const transportIds = [...sfu.rooms.values()].flatMap((r) =>
      [...r.values()].flatMap((p) => [...p.transports.keys()]),
    );

    const junkString = () => {
      const alphabet = [
        'a',
        'Z',
        '0',
        ' ',
        '"',
        '\\',
        '{',
        '}',
        '[',
        ']',
        ':',
        ',',
        'é',
        '€',
        '😀',
        '\u0000',
        '\n',
        'null',
        'true',
        '-1e999',
      ];
      return Array.from({ length: int(24) }, () => pick(alphabet)).join('');
    };
    const junk = (depth = 0): Json => {
      switch (int(depth > 3 ? 6 : 9)) {
        case 0:
          return null;
        case 1:
          return rnd() < 0.5;
        case 2:
          return pick([0, -1, 1.5, 2 ** 53, -(2 ** 60), 1e308, Number.MAX_SAFE_INTEGER]);
        case 3:
          return junkString();
        case 4:
          return 'x'.repeat(int(2000));
        case 5:
          return randomUUID();
        case 6:
          return Array.from({ length: int(4) }, () => junk(depth + 1));
        case 7:
          return Object.fromEntries(
            Array.from({ length: int(4) }, () => [
              pick(['a', '__proto__', 'constructor', 'transportId', 'kind', 'data', junkString()]),
              junk(depth + 1),
            ]),
          );
        default:
          return { codecs: [junk(depth + 1)], encodings: junk(depth + 1) };
      }
    };
    const dtls = { role: 'client', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] };
    const validData = (method: string): Json => {
      const t = transportIds.length ? pick(transportIds) : randomUUID();
      switch (method) {
        case 'join':
          return { displayName: 'again' };
        case 'createTransport':
          return { direction: pick(['send', 'recv']) };
        case 'connectTransport':
          return { transportId: t, dtlsParameters: dtls };
        case 'produce':
          return {
            transportId: t,
            kind: 'audio',
            rtpParameters: { codecs: [{ mimeType: 'audio/opus' }] },
          };
        case 'consume':
          return { transportId: t, producerId: randomUUID(), rtpCapabilities: { codecs: [] } };
        case 'resumeConsumer':
          return { consumerId: randomUUID() };
        case 'restartIce':
          return { transportId: t };
        case 'ping':
          return { t: int(1000) };
        default:
          return { producerId: randomUUID() };
      }
    };
    const methods = WS_METHODS.filter((m) => m !== 'leave');
    let nextId = 1;
    const mutate = (v: Record<string, Json>): Json => {
      const copy = JSON.parse(JSON.stringify(v)) as Record<string, Json>;
      const target =
        rnd() < 0.5 &&
        copy['data'] &&
        typeof copy['data'] === 'object' &&
        !Array.isArray(copy['data'])
          ? (copy['data'] as Record<string, Json>)
          : copy;
      const keys = Object.keys(target);
      switch (int(9)) {
        case 0:
          if (keys.length) delete target[pick(keys)];
          break;
        case 1:
          if (keys.length) target[pick(keys)] = junk();
          break;
        case 2:
          target[junkString() || 'extra'] = junk();
          break;
        case 3:
          copy['method'] = pick([
            'Ping',
            'ping ',
            '',
            '__proto__',
            'constructor',
            'toString',
            'hasOwnProperty',
            junkString(),
            'x'.repeat(65),
          ]);
          break;
        case 4:
          copy['type'] = pick(['response', 'notification', 'REQUEST', 1, null]) as Json;
          break;
        case 5:
          copy['id'] = junk();
          break;
        case 6:
          return [copy];
        case 7:
          copy['meta'] = junk();
          break;
        default:
          copy['data'] = junk();
          break;
      }
      return copy;
    };
    const frame = (): string | Buffer => {
      const r = rnd();
      if (r < 0.08) return junkString();
      if (r < 0.1)
        return pick(['', 'null', '[]', '{}', '1e309', '"str"', '{"type":"request"}', '[{"id":1}]']);
      if (r < 0.11) {
        let s = '1';
        for (let i = 0; i < 200 + int(5000); i++) s = `{"a":${s}}`;
        return s;
      }
      if (r < 0.112) return Buffer.from([int(256), int(256), int(256)]);
      const method = pick(methods);
      const base: Record<string, Json> = {
        type: 'request',
        id: rnd() < 0.8 ? nextId++ : `s-${nextId++}`,
        method,
        data: validData(method),
      };
      if (rnd() < 0.1)
        base['meta'] = {
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
          'x-correlation-id': `fz-${nextId}`,
        };
      if (r < 0.25) return JSON.stringify(base);
      const text = JSON.stringify(
        rnd() < 0.85 ? mutate(base) : mutate(mutate(base) as Record<string, Json>),
      );
      if (rnd() < 0.08) {
        // Byte-level damage: truncate or flip characters.
        const at = int(text.length);
        return rnd() < 0.5
          ? text.slice(0, at)
          : text.slice(0, at) + junkString() + text.slice(at + 1);
      }
      return text;
    };

    const memory: number[] = [];
    const rss: number[] = [];
    const started = Date.now();
    for (let i = 0; i < TOTAL; i++) {
      if (i % 5000 === 4999)
        send(
          JSON.stringify({
            type: 'request',
            id: nextId++,
            method: 'ping',
            data: { t: 'y'.repeat(WS_MAX_FRAME_BYTES) },
          }),
        );
      else send(frame());
      if (sent - received > WINDOW) await settle(WINDOW / 2);
      if (closed) break;
      if (i % Math.floor(TOTAL / 5) === 0 || i === TOTAL - 1) {
        await settle(0);
        memory.push(await metric(url, 'nodejs_heap_size_used_bytes'));
        rss.push(await metric(url, 'process_resident_memory_bytes'));
      }
    }
    await settle(0);
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(
      `fuzz: seed=${SEED} sent=${sent} received=${received} ok=${okCount} ${(sent / seconds).toFixed(0)} msg/s ` +
        `errors=${JSON.stringify(Object.fromEntries(codes))} heapMB=${memory.map((m) => (m / 1e6).toFixed(1))} rssMB=${rss.map((m) => (m / 1e6).toFixed(1))}\n`,
    );

    expect(closed).toBeUndefined();
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(received).toBe(sent);
    expect(unexpected).toBe(0);
    expect(outstanding.size).toBe(0);
    expect(codes.get('INTERNAL') ?? 0).toBe(0);
    expect(codes.get('PAYLOAD_TOO_LARGE') ?? 0).toBeGreaterThanOrEqual(Math.floor(TOTAL / 5000));
    expect(okCount).toBeGreaterThan(TOTAL / 50);
    expect(Math.max(...memory)).toBeLessThan(HEAP_LIMIT_MB * 1024 * 1024);
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    expect(proc.proc.exitCode).toBeNull();
    // Still a working server: a fresh client joins.
    const probe = new WebSocket(
      `${url.replace('http', 'ws')}/v1/ws?token=${await tokenFor(TENANTS.acme, 'after', 'fuzz-room')}`,
    );
    const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
      probe.once('open', () =>
        probe.send(JSON.stringify({ type: 'request', id: 1, method: 'join', data: {} })),
      );
      probe.once('message', (d: Buffer) =>
        resolve(JSON.parse(d.toString()) as Record<string, unknown>),
      );
      probe.once('error', reject);
    });
    expect(answer).toMatchObject({ type: 'response', id: 1, ok: true });
    probe.close();
    ws.close();
    expect(proc.logs.filter((l) => l['level'] === 'error')).toEqual([]);
  }, 600_000);
});
