import 'reflect-metadata';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import {
  decodeWav,
  downmixToMono,
  encodeWav,
  float32ToBytes,
  int16ToFloat32,
  resample,
} from '@parley/audio';
import { type SttJobResult, type SttJobStatus, sttContracts } from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import { benchLine, percentile, round } from './stats';

/**
 * stt: the realtime lane and the batch lane end to end, real processes (nats-server, orchestrator,
 * workers) on the synthetic model (or PARLEY_WHISPER_MODEL).
 *
 * - rt4s_ms: median of a 4 s utterance on the realtime lane, request → final (NATS), one worker;
 *   logged with its breakdown (client ↔ worker transport, worker handling, engine queue, engine
 *   process) and whisper.cpp's own split of the engine time (mel, encoder, decoder, sampling).
 * - overhead_ratio: the full path (HTTP POST /inference with a 4 s WAV → orchestrator → NATS →
 *   worker → rendered result) over a direct engine call on the same audio and model in another
 *   process (apps/stt-worker/src/probe.ts): 30 pairs, interleaved call by call, the median of the
 *   pairs' ratios (the ratio of the two medians is logged too). Logged with where the path's time
 *   goes (Server-Timing of the orchestrator and the worker).
 * - priority_ratio: median latency of a 3 s realtime clip while a 10-minute batch job runs on the
 *   same worker over its idle median. The job is cancelled once measured (its completion is not
 *   what this measures; the batch phases below are).
 * - rtf: batch wall time over audio time with one worker of SCALE_THREADS threads (lower is faster
 *   than real time).
 * - scale_2w: batch throughput with two workers over one: the same set of 30 s jobs, submitted at
 *   once, with one worker and then with two, each with SCALE_THREADS threads (default 1: two
 *   workers then fill the two cores, which two workers of two threads each cannot scale past).
 *
 * Args: [threads of the worker, default 2 = STT_WORKER_THREADS' default] [jobs per scale phase,
 * default 6] [phases, default all: a comma list of rt4s, overhead, priority, batch — the BENCH
 * line then holds only those] [threads per worker in the scale phase, default 1].
 */
const THREADS = Number(process.argv[2] ?? 2);
const SCALE_JOBS = Number(process.argv[3] ?? 6);
const PHASES = new Set((process.argv[4] ?? 'rt4s,overhead,priority,batch').split(','));
const SCALE_THREADS = Number(process.argv[5] ?? 1);
const LONG_S = 600;
const ROOT = process.cwd();
const quiet = createLogger({
  service: 'bench',
  nodeId: 'bench',
  level: 'error',
  stream: new Writable({ write: (_c, _e, cb) => cb() }),
});
const procs: ChildProcess[] = [];
const log = (m: string) => process.stderr.write(`[stt-bench] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (v: number[]) => percentile(v, 50);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms`);
    await sleep(100);
  }
}

/** The last lines each child wrote, printed when the bench fails. */
const tails = new Map<ChildProcess, { name: string; lines: string[] }>();

function start(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  name = cmd,
  keepStdout = false,
): ChildProcess {
  const p = spawn(cmd, args, {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const tail = { name, lines: [] as string[] };
  tails.set(p, tail);
  const keep = (d: Buffer) => {
    tail.lines.push(...d.toString('utf8').split('\n').filter(Boolean));
    tail.lines.splice(0, Math.max(0, tail.lines.length - 30));
  };
  if (!keepStdout) p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  p.on('exit', (code, signal) => {
    if (!stopping) log(`${name} exited (${signal ?? code})`);
  });
  procs.push(p);
  return p;
}
let stopping = false;

function app(name: 'stt' | 'stt-worker', env: Record<string, string>): ChildProcess {
  return start(
    process.execPath,
    ['-r', '@swc-node/register', join(ROOT, 'apps', name, 'src', 'main.ts')],
    { NODE_ENV: 'production', LOG_LEVEL: 'warn', ...engineEnv(), ...env },
    `${name}${env['PARLEY_NODE_ID'] ? ` ${env['PARLEY_NODE_ID']}` : ''}`,
  );
}

function engineEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  // Engine paths, and worker tuning when set (e.g. STT_WORKER_BATCH_WINDOW_MS=30000 to compare).
  for (const k of [
    'PARLEY_WHISPER_ADDON',
    'PARLEY_WHISPER_MODEL',
    'PARLEY_WHISPER_SYNTHETIC_MODEL',
    'STT_WORKER_BATCH_WINDOW_MS',
    'STT_WORKER_BATCH_YIELD_MS',
    'STT_WORKER_MAX_PREEMPTIONS',
  ]) {
    const v = process.env[k];
    if (v) out[k] = v;
  }
  return out;
}

/** espeak-ng speech, 16 kHz mono, cut to exactly `seconds`. */
function speech(seconds: number, dir: string): Float32Array {
  const sentence = 'Parley turns speech into text while people talk in the room. ';
  const file = join(dir, `speech-${seconds}.wav`);
  const make = (text: string) => {
    execFileSync('espeak-ng', ['-w', file, text]);
    const wav = decodeWav(new Uint8Array(readFileSync(file)));
    const mono = downmixToMono(
      wav.samples instanceof Int16Array ? int16ToFloat32(wav.samples) : wav.samples,
      wav.channels,
    );
    return resample(mono, wav.sampleRate, 16000);
  };
  const once = make(sentence).length;
  const pcm = make(sentence.repeat(Math.ceil((seconds * 16000) / once) + 1));
  return pcm.slice(0, Math.round(seconds * 16000));
}

const pcm16Wav = (pcm: Float32Array) =>
  encodeWav(pcm, { sampleRate: 16000, channels: 1, sampleFormat: 'pcm16' });

async function main(): Promise<void> {
  const load0 = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'parley-stt-bench-'));
  const natsPort = await freePort();
  start('nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', dir], {});
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const sttPort = await freePort();
  const stt = `http://127.0.0.1:${sttPort}`;
  const common = {
    NATS_URL: natsUrl,
    STT_JOB_ACK_WAIT_MS: '10000',
    STT_WORKER_HEARTBEAT_MS: '1000',
  };
  await until(async () => {
    const s = createServer();
    return new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(true));
      s.listen(natsPort, '127.0.0.1', () => s.close(() => resolve(false)));
    });
  }, 10_000);
  app('stt', { ...common, STT_HTTP_PORT: String(sttPort), STT_HTTP_HOST: '127.0.0.1' });
  const w1Port = await freePort();
  const w1 = app('stt-worker', {
    ...common,
    PARLEY_NODE_ID: 'bench-w1',
    STT_WORKER_HTTP_PORT: String(w1Port),
    STT_WORKER_THREADS: String(THREADS),
  });
  await until(async () => (await fetch(`${stt}/health`)).status === 200, 60_000);
  log(
    `stack up (worker threads ${THREADS}); load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
  );

  const client = new NatsMessaging({
    servers: [natsUrl],
    name: 'bench',
    queue: 'bench',
    logger: quiet,
  });
  client.start();
  await client.waitUntilConnected();

  const s4 = speech(4, dir);
  const s3 = speech(3, dir);
  // Made up front: generating them blocks the event loop for seconds, which in the middle of the
  // run would let the HTTP client reuse a keep-alive socket the server has closed meanwhile.
  const longWav = PHASES.has('priority') ? pcm16Wav(speech(LONG_S, dir)) : new Uint8Array(0);
  const jobWav = PHASES.has('batch') ? pcm16Wav(speech(30, dir)) : new Uint8Array(0);
  const out: Record<string, number> = {};
  const realtime = async (pcm: Float32Array, id: string): Promise<number> => {
    const t0 = performance.now();
    const r = await client.request(
      sttContracts.realtimeTranscribe,
      {
        utteranceId: id,
        kind: 'final',
        roomId: 'bench',
        participantId: 'p1',
        startMs: 0,
        audio: float32ToBytes(pcm),
      },
      { timeoutMs: 60_000 },
    );
    if (!r.speech || r.segments.length === 0) throw new Error('realtime lane returned no segments');
    lastTiming = r.timing;
    return performance.now() - t0;
  };
  let lastTiming = { queuedMs: 0, processMs: 0, totalMs: 0 };
  const timed = async (
    pcm: Float32Array,
    id: string,
    into: Array<{ queuedMs: number; processMs: number }>,
  ) => {
    const ms = await realtime(pcm, id);
    into.push({ queuedMs: lastTiming.queuedMs, processMs: lastTiming.processMs });
    return ms;
  };
  const medianOf = (
    list: Array<{ queuedMs: number; processMs: number }>,
    k: 'queuedMs' | 'processMs',
  ) => median(list.map((t) => t[k])).toFixed(0);

  let submitted = 0;
  const submit = async (wav: Uint8Array, name: string): Promise<string> => {
    // With an id the submission is idempotent, so a request lost with its socket is sent again.
    const id = `bench-${process.pid}-${submitted++}`;
    for (let attempt = 1; ; attempt++) {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), name);
      form.append('id', id);
      try {
        const res = await fetch(`${stt}/v1/jobs`, { method: 'POST', body: form });
        if (res.status !== 202) throw new Error(`POST /v1/jobs ${res.status}: ${await res.text()}`);
        return ((await res.json()) as SttJobStatus).jobId;
      } catch (err) {
        if (attempt >= 3 || !(err instanceof TypeError)) throw err;
        log(`POST /v1/jobs: ${String((err as Error).cause ?? err)}; sending it again`);
      }
    }
  };
  const job = async (id: string) =>
    (await (await fetch(`${stt}/v1/jobs/${id}`)).json()) as SttJobStatus & {
      result?: SttJobResult;
    };

  // rt4s
  if (PHASES.has('rt4s')) {
    for (let i = 0; i < 3; i++) await realtime(s4, `warm${i}`);
    const rt4: number[] = [];
    const rt4T: Array<{ queuedMs: number; processMs: number; totalMs: number }> = [];
    for (let i = 0; i < 15; i++) {
      rt4.push(await realtime(s4, `rt4-${i}`));
      rt4T.push({ ...lastTiming });
    }
    const rt4s = median(rt4);
    const part = (f: (i: number) => number) => median(rt4.map((_, i) => f(i))).toFixed(1);
    log(
      `rt4s: median ${rt4s.toFixed(0)} ms, p90 ${percentile(rt4, 90).toFixed(0)} ms = ` +
        `transport ${part((i) => rt4[i] - rt4T[i].totalMs)} + worker ${part((i) => rt4T[i].totalMs - rt4T[i].queuedMs - rt4T[i].processMs)} + ` +
        `engine queue ${part((i) => rt4T[i].queuedMs)} + engine ${part((i) => rt4T[i].processMs)} (medians)`,
    );
    out['rt4s_ms'] = round(rt4s, 0);
  }

  // overhead: direct engine (probe process) vs HTTP /inference, interleaved
  if (PHASES.has('overhead')) {
    const pcmFile = join(dir, 's4.pcm');
    writeFileSync(pcmFile, float32ToBytes(s4));
    // 16-bit PCM WAV, what whisper.cpp's server expects from its clients (and the same samples as
    // the probe's s16le file).
    const wav4 = new Blob([new Uint8Array(pcm16Wav(s4))], { type: 'audio/wav' });
    const probe = start(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        join(ROOT, 'apps', 'stt-worker', 'src', 'probe.ts'),
        pcmFile,
        String(THREADS),
      ],
      engineEnv(),
      'probe',
      true,
    );
    const lines = createInterface({ input: probe.stdout as NodeJS.ReadableStream })[
      Symbol.asyncIterator
    ]();
    type ProbeLine = { ms: number; native?: Record<string, number> };
    const next = async () => JSON.parse(String((await lines.next()).value)) as ProbeLine;
    await next(); // ready
    const natives: Array<Record<string, number>> = [];
    const direct = async () => {
      probe.stdin?.write('go\n');
      const r = await next();
      if (r.native) natives.push(r.native);
      return r.ms;
    };
    // Where the full path's time goes beside the engine (Server-Timing of the orchestrator and
    // the worker), per request of the lean client.
    const parts = ['client', 'upload', 'decode', 'nats', 'worker', 'render'] as const;
    const path = Object.fromEntries(parts.map((k) => [k, [] as number[]])) as Record<
      (typeof parts)[number],
      number[]
    >;
    const aroundEngine: number[] = [];
    // The worker's own engine time of each measured request (paired with the direct call).
    const workerEngine: number[] = [];
    let measuring = false;
    const checked = (status: number, text: string, st: string, ms: number, breakdown: boolean) => {
      const body = JSON.parse(text) as { text?: string };
      if (status !== 200 || typeof body.text !== 'string') throw new Error(`/inference ${status}`);
      const dur = (name: string) => Number(new RegExp(`${name};dur=([\\d.]+)`).exec(st)?.[1] ?? 0);
      const [upload, decode, lane, worker, engine, render] = [
        'upload',
        'decode',
        'lane',
        'worker',
        'engine',
        'render',
      ].map(dur);
      if (breakdown && measuring && engine > 0) {
        workerEngine.push(engine);
        aroundEngine.push(ms - engine);
        path.client.push(ms - upload - decode - lane - render);
        path.upload.push(upload);
        path.decode.push(decode);
        path.nats.push(lane - worker);
        path.worker.push(worker - engine);
        path.render.push(render);
      }
      return ms;
    };
    // The client of the ratio sends the form as curl does (whisper.cpp's own examples): a body of
    // known length in one write on a kept-alive connection. undici's fetch with a FormData streams
    // a Blob and costs its caller ~1-2 ms more per request: measured alongside and logged.
    const boundary = `----parley-bench-${process.pid}`;
    const multipart = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="s4.wav"\r\n` +
          'Content-Type: audio/wav\r\n\r\n',
      ),
      pcm16Wav(s4),
      Buffer.from(
        `\r\n--${boundary}\r\nContent-Disposition: form-data; name="response_format"\r\n\r\n` +
          `json\r\n--${boundary}--\r\n`,
      ),
    ]);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const http = () =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        const req = httpRequest(
          `${stt}/inference`,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': `multipart/form-data; boundary=${boundary}`,
              'content-length': multipart.length,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', reject);
            res.on('end', () => {
              try {
                const ms = performance.now() - t0;
                const st = String(res.headers['server-timing'] ?? '');
                resolve(
                  checked(res.statusCode ?? 0, Buffer.concat(chunks).toString(), st, ms, true),
                );
              } catch (err) {
                reject(err);
              }
            });
          },
        );
        req.on('error', reject);
        req.end(multipart);
      });
    const viaFetch = async () => {
      const form = new FormData();
      form.append('file', wav4, 's4.wav');
      form.append('response_format', 'json');
      const t0 = performance.now();
      const res = await fetch(`${stt}/inference`, { method: 'POST', body: form });
      const text = await res.text();
      const ms = performance.now() - t0;
      return checked(res.status, text, res.headers.get('server-timing') ?? '', ms, false);
    };
    for (let i = 0; i < 3; i++) {
      await direct();
      await http();
      await viaFetch();
    }
    measuring = true;
    const directMs: number[] = [];
    const httpMs: number[] = [];
    const fetchMs: number[] = [];
    // Interleaved, rotating which goes first, so load drift and ordering hit all alike.
    const calls = [
      async () => directMs.push(await direct()),
      async () => httpMs.push(await http()),
      async () => fetchMs.push(await viaFetch()),
    ];
    for (let i = 0; i < 30; i++) {
      for (let k = 0; k < calls.length; k++) await calls[(i + k) % calls.length]();
    }
    probe.stdin?.end();
    if (natives.length > 0) {
      const n = (k: string) => median(natives.map((x) => x[k] ?? 0)).toFixed(1);
      log(
        `engine, 4 s clip, direct (whisper.cpp's split, medians): mel ${n('melMs')} + encoder ${n('encodeMs')} + ` +
          `decoder ${n('decodeMs')} (${n('decodes')} passes) + sampling ${n('sampleMs')} ms; state set-up ${n('initMs')} ms`,
      );
    }
    // Paired: each full-path call over the direct call made right before or after it, so the load
    // of the moment (other processes on the host) weighs on both sides of every ratio.
    const overhead = median(httpMs.map((h, i) => h / directMs[i]));
    const m = (v: number[]) => median(v).toFixed(1);
    log(
      `overhead: HTTP /inference median ${median(httpMs).toFixed(0)} ms vs direct engine ${median(directMs).toFixed(0)} ms ` +
        `(ratio of medians ${(median(httpMs) / median(directMs)).toFixed(3)}, median of paired ratios ${overhead.toFixed(3)}); ` +
        `with fetch + FormData as the client ${median(fetchMs).toFixed(0)} ms (paired ratio ` +
        `${median(fetchMs.map((h, i) => h / directMs[i])).toFixed(3)}); ` +
        `the path around the worker's own engine call adds ${m(aroundEngine)} ms: client + HTTP ${m(path.client)}, ` +
        `upload parsing ${m(path.upload)}, WAV decoding ${m(path.decode)}, NATS round trip ${m(path.nats)}, ` +
        `worker around the engine ${m(path.worker)}, rendering ${m(path.render)} (medians, Server-Timing); ` +
        // The same engine call in two processes: what the ratio moves by that is not the path.
        `the worker's engine time over the direct one: median of paired ratios ${median(
          workerEngine.map((e, i) => e / directMs[i]),
        ).toFixed(3)}`,
    );
    out['overhead_ratio'] = round(overhead, 3);
    out['overhead_ms'] = round(median(aroundEngine), 1);
  }

  // priority: 3 s realtime idle vs during a long batch job on the same worker
  if (PHASES.has('priority')) {
    const idle: number[] = [];
    const idleT: Array<{ queuedMs: number; processMs: number }> = [];
    const busyT: Array<{ queuedMs: number; processMs: number }> = [];
    for (let i = 0; i < 10; i++) idle.push(await timed(s3, `idle-${i}`, idleT));
    const longId = await submit(longWav, 'long.wav');
    await until(async () => ((await job(longId)).state === 'running' ? true : undefined), 30_000);
    await sleep(500);
    const busy: number[] = [];
    // Utterances arrive at irregular moments (seeded, so every run sees the same gaps, 200-1200 ms):
    // a fixed gap would always land on the same phase of the restarted window.
    let seed = 7;
    const gap = () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return 200 + (seed / 2 ** 32) * 1000;
    };
    for (let i = 0; i < 12; i++) {
      busy.push(await timed(s3, `busy-${i}`, busyT));
      await sleep(gap());
    }
    const longState = await job(longId);
    const stillRunning = longState.state === 'running';
    const priority = median(busy) / median(idle);
    log(
      `priority: 3 s clip idle ${median(idle).toFixed(0)} ms (engine queue ${medianOf(idleT, 'queuedMs')} + process ${medianOf(idleT, 'processMs')}), ` +
        `during a ${LONG_S} s batch job ${median(busy).toFixed(0)} ms (queue ${medianOf(busyT, 'queuedMs')} + process ${medianOf(busyT, 'processMs')}), ` +
        `max ${Math.max(...busy).toFixed(0)} ms; job still running at the end: ${stillRunning} (${longState.progress}% done)`,
    );
    if (!stillRunning) throw new Error(`the ${LONG_S} s job was not running throughout`);
    // Measured; cancel rather than wait minutes for it (the batch phases below measure throughput).
    await fetch(`${stt}/v1/jobs/${longId}`, { method: 'DELETE' });
    await until(async () => ((await job(longId)).state === 'cancelled' ? true : undefined), 60_000);
    await sleep(1000); // the worker stops the job's running window on the cancellation event
    out['priority_ratio'] = round(priority, 3);
  }

  // rtf + scale: the same job set with one worker, then two
  if (PHASES.has('batch')) {
    /** Starts a worker of the scale phase (SCALE_THREADS threads) and waits until it is ready. */
    const scaleWorker = async (id: string): Promise<void> => {
      const port = await freePort();
      app('stt-worker', {
        ...common,
        PARLEY_NODE_ID: id,
        STT_WORKER_HTTP_PORT: String(port),
        STT_WORKER_THREADS: String(SCALE_THREADS),
      });
      await until(
        async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200,
        60_000,
      );
    };
    if (SCALE_THREADS !== THREADS) {
      // The scale phase's workers run SCALE_THREADS threads each: replace the first worker.
      await new Promise<void>((resolve) => {
        if (w1.exitCode !== null || w1.signalCode !== null) return resolve();
        w1.once('exit', () => resolve());
        w1.kill('SIGTERM');
      });
      await scaleWorker('bench-w1b');
    }
    const batch = async (): Promise<number> => {
      const t0 = performance.now();
      const ids = await Promise.all(
        Array.from({ length: SCALE_JOBS }, (_, i) => submit(jobWav, `j${i}.wav`)),
      );
      const submitted = performance.now() - t0;
      const states = await until(async () => {
        const all = await Promise.all(ids.map(job));
        if (all.some((s) => s.state === 'failed')) throw new Error('a job failed');
        return all.every((s) => s.state === 'completed') ? all : undefined;
      }, 900_000);
      const ms = performance.now() - t0;
      // Per worker: jobs, time spent on them (started → finished) and whisper.cpp's own time, to
      // tell uneven distribution (one worker idle) from slower jobs (the workers contending).
      const perWorker = new Map<string, { jobs: number; busyMs: number; engineMs: number }>();
      for (const st of states) {
        const w = perWorker.get(st.workerId ?? '?') ?? { jobs: 0, busyMs: 0, engineMs: 0 };
        w.jobs++;
        w.busyMs += Date.parse(st.finishedAt ?? '') - Date.parse(st.startedAt ?? '');
        w.engineMs += st.result?.processMs ?? 0;
        perWorker.set(st.workerId ?? '?', w);
      }
      const engineTotal = [...perWorker.values()].reduce((n, w) => n + w.engineMs, 0);
      log(
        `batch phase: ${(ms / 1000).toFixed(1)} s (uploads done after ${(submitted / 1000).toFixed(1)} s); ` +
          `per worker ${[...perWorker]
            .map(
              ([id, w]) =>
                `${id}: ${w.jobs} jobs, busy ${((100 * w.busyMs) / ms).toFixed(0)}% of the phase, ` +
                `${(w.engineMs / w.jobs / 1000).toFixed(2)} s whisper.cpp per job`,
            )
            .join('; ')}; whisper.cpp ${(engineTotal / SCALE_JOBS / 1000).toFixed(2)} s per job; ` +
          `load ${loadavg()[0].toFixed(2)}`,
      );
      return ms;
    };
    const t1 = await batch();
    const rtf = t1 / (SCALE_JOBS * 30_000);
    await scaleWorker('bench-w2');
    const t2 = await batch();
    log(
      `batch: ${SCALE_JOBS} × 30 s jobs in ${(t1 / 1000).toFixed(1)} s with 1 worker, ${(t2 / 1000).toFixed(1)} s with 2 (${SCALE_THREADS} thread(s) each)`,
    );
    out['rtf'] = round(rtf, 3);
    out['scale_2w'] = round(t1 / t2, 2);
  }

  await client.close();
  const load1 = loadavg();
  log(
    `load average at the end ${load1.map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs`,
  );
  cleanup(dir);
  benchLine('stt', {
    ...out,
    threads: THREADS,
    ...(PHASES.has('batch') ? { scale_threads: SCALE_THREADS } : {}),
    load1: round((load0[0] + load1[0]) / 2, 2),
  });
}

function cleanup(dir?: string): void {
  stopping = true;
  for (const p of procs.reverse()) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`stt bench failed: ${String((err as Error)?.stack ?? err)}\n`);
  for (const { name, lines } of tails.values()) {
    if (lines.length) process.stderr.write(`--- ${name}, last lines:\n${lines.join('\n')}\n`);
  }
  cleanup();
  process.exit(1);
});
