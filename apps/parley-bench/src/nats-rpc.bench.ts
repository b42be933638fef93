import 'reflect-metadata';
import { loadavg } from 'node:os';
import { Writable } from 'node:stream';
import type { ExportResult } from '@opentelemetry/core';
import { defineRequest } from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { Metrics, createLogger, initTracing } from '@parley/observability';
import { type Msg, connect, headers as natsHeaders } from 'nats';
import { z } from 'zod';
import { benchLine, percentile, round } from './stats';

/**
 * nats-rpc: the typed messaging layer (schema validation on both ends, a CLIENT and a SERVER
 * span exported through a batch processor, header propagation, metrics, logger) against a raw
 * nats.js request/JSON reply (nats.js in its cheapest request configuration): same server, same
 * payload, same count, interleaved blocks whose order rotates every round so drift and ordering
 * hit all variants alike.
 * Besides latency it reports the CPU time this process spends per request of each kind.
 */
const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const N = Number(process.argv[2] ?? 20_000);
const BLOCK = 500;

// Spans go through a real BatchSpanProcessor to an exporter that drops them (no network noise).
const sink = {
  export: (_s: unknown[], cb: (r: ExportResult) => void) => cb({ code: 0 }),
  shutdown: async () => undefined,
};
initTracing({
  serviceName: 'bench',
  serviceVersion: '0',
  nodeId: 'bench',
  exporter: sink as never,
  exporterMode: 'batch',
});
const logger = createLogger({
  service: 'bench',
  nodeId: 'bench',
  level: 'info',
  stream: new Writable({ write: (_c, _e, cb) => cb() }),
});
const run = Date.now().toString(36);

const Req = z
  .object({
    roomId: z.string().min(1).max(64),
    peerId: z.string().min(1).max(64),
    kind: z.enum(['audio', 'video']),
    seq: z.number().int(),
  })
  .strict();
const Res = z.object({ transportId: z.string(), seq: z.number().int(), ok: z.boolean() });
const contract = defineRequest({
  subject: `bench.${run}.typed`,
  request: Req,
  response: Res,
  timeoutMs: 5000,
  description: 'bench',
});
const rawSubject = `bench.${run}.raw`;

async function main(): Promise<void> {
  const server = new NatsMessaging({
    servers: [NATS],
    name: 'bench-server',
    queue: 'bench',
    logger,
    metrics: new Metrics('bench-server', 's'),
  });
  const client = new NatsMessaging({
    servers: [NATS],
    name: 'bench-client',
    queue: 'bench',
    logger,
    metrics: new Metrics('bench-client', 'c'),
  });
  server.serve(contract, (req) => ({ transportId: `t-${req.peerId}`, seq: req.seq, ok: true }));
  server.start();
  client.start();
  await Promise.all([server.waitUntilConnected(), client.waitUntilConnected()]);

  // The raw baseline runs nats.js in its cheapest request configuration: without noAsyncTraces
  // every raw request would also capture two Error stacks, which would flatter the ratio.
  const rawServer = await connect({ servers: NATS, noAsyncTraces: true });
  const rawClient = await connect({ servers: NATS, noAsyncTraces: true });
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  rawServer.subscribe(rawSubject, {
    queue: 'bench',
    callback: (_e, m: Msg) => {
      const req = JSON.parse(dec.decode(m.data)) as { peerId: string; seq: number };
      m.respond(
        enc.encode(
          JSON.stringify({
            ok: true,
            data: { transportId: `t-${req.peerId}`, seq: req.seq, ok: true },
          }),
        ),
      );
    },
  });
  await rawServer.flush();
  await server.connection.flush();

  const payload = (seq: number) => ({
    roomId: 'room-1',
    peerId: 'peer-1',
    kind: 'audio' as const,
    seq,
  });
  const typed: number[] = [];
  const raw: number[] = [];
  const rawHdr: number[] = [];
  const typedOnce = async (i: number) => {
    const t = process.hrtime.bigint();
    const r = await client.request(contract, payload(i));
    if (r.seq !== i) throw new Error('bad reply');
    return Number(process.hrtime.bigint() - t) / 1000;
  };
  // Same raw request, carrying the two headers the typed layer propagates (traceparent and
  // x-correlation-id): separates what NATS headers cost in nats.js from what the layer adds.
  const rawOnce = async (i: number, withHeaders = false) => {
    const t = process.hrtime.bigint();
    let headers;
    if (withHeaders) {
      headers = natsHeaders();
      headers.set(
        'traceparent',
        `00-${'0af7651916cd43dd8448eb211c80319c'}-${'b7ad6b7169203331'}-01`,
      );
      headers.set('x-correlation-id', `bench-${i}`);
    }
    const m = await rawClient.request(rawSubject, enc.encode(JSON.stringify(payload(i))), {
      timeout: 5000,
      headers,
    });
    const r = JSON.parse(dec.decode(m.data)) as { data: { seq: number } };
    if (r.data.seq !== i) throw new Error('bad reply');
    return Number(process.hrtime.bigint() - t) / 1000;
  };
  for (let i = 0; i < 2000; i++) {
    await typedOnce(i);
    await rawOnce(i);
  }
  const cpu = { typed: 0, raw: 0, rawHdr: 0 };
  const variants = [
    { name: 'typed', out: typed, once: (i: number) => typedOnce(i) },
    { name: 'raw', out: raw, once: (i: number) => rawOnce(i) },
    { name: 'rawHdr', out: rawHdr, once: (i: number) => rawOnce(i, true) },
  ] as const;
  for (let done = 0, round = 0; done < N; done += BLOCK, round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length] ?? variants[0];
      const c0 = process.cpuUsage();
      for (let i = 0; i < BLOCK; i++) v.out.push(await v.once(done + i));
      const c = process.cpuUsage(c0);
      cpu[v.name] += c.user + c.system;
    }
    if (process.stdout.isTTY)
      process.stdout.write(`\r  ${Math.round(((done + BLOCK) / N) * 100)}%`);
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  await client.close();
  await server.close();
  await rawClient.close();
  await rawServer.close();

  const p50 = percentile(typed, 50);
  const rawP50 = percentile(raw, 50);
  process.stdout.write(
    `typed: n=${typed.length} p50=${round(p50)}µs p90=${round(percentile(typed, 90))}µs p99=${round(percentile(typed, 99))}µs\n`,
  );
  process.stdout.write(
    `raw:   n=${raw.length} p50=${round(rawP50)}µs p90=${round(percentile(raw, 90))}µs p99=${round(percentile(raw, 99))}µs\n`,
  );
  const hdrP50 = percentile(rawHdr, 50);
  process.stdout.write(`raw+headers: p50=${round(hdrP50)}µs\n`);
  const cpuUs = (k: keyof typeof cpu) => round(cpu[k] / typed.length, 1);
  process.stdout.write(
    `cpu per request (this process, client + server side): typed=${cpuUs('typed')}µs raw=${cpuUs('raw')}µs raw+headers=${cpuUs('rawHdr')}µs\n`,
  );
  process.stdout.write(
    `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  benchLine('nats-rpc', {
    p50_us: round(p50, 1),
    p99_us: round(percentile(typed, 99), 1),
    raw_p50_us: round(rawP50, 1),
    raw_p99_us: round(percentile(raw, 99), 1),
    overhead_ratio: round(p50 / rawP50, 3),
    raw_hdr_p50_us: round(hdrP50, 1),
    overhead_vs_hdr_ratio: round(p50 / hdrP50, 3),
    cpu_us: cpuUs('typed'),
    raw_cpu_us: cpuUs('raw'),
    load1: round(loadavg()[0] ?? 0, 2),
    n: typed.length,
  });
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`nats-rpc bench failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
