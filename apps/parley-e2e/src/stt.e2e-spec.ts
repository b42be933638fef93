import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  type EventContract,
  type PayloadOf,
  STT_JETSTREAM,
  type SttJobResult,
  type SttJobStatus,
  sttContracts,
  sttEvents,
} from '@parley/contracts';
import { MessagingError, NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import {
  type PrivateServer,
  type ServiceProcess,
  WORKSPACE_ROOT,
  eventually,
  freePort,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import { connect } from 'nats';

// The real STT processes — orchestrator and two workers running whisper.cpp on the synthetic
// tiny model (random weights: the tests assert segments, timestamps, states, progress and
// routing, never words) — over a private nats-server with JetStream file storage.

const RATE = 16000;
const WINDOW_MS = 4000;
const ACK_WAIT_MS = 2000;

type Job = SttJobStatus & { result?: SttJobResult };

function runSetup(name: string): Record<string, string> {
  const out = execFileSync(
    process.execPath,
    [join(WORKSPACE_ROOT, 'scripts', 'setup', `${name}.mjs`)],
    { cwd: WORKSPACE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return JSON.parse(out.slice(out.lastIndexOf('\n{') + 1)) as Record<string, string>;
}

/** 16 kHz mono s16le speech from espeak-ng, `seconds` long (the sentence repeated, then cut). */
function speech(dir: string, seconds: number): Buffer {
  const sentence = 'Parley turns speech into text while people talk in the room. ';
  const wav = join(dir, `sp-${seconds}.wav`);
  const raw = join(dir, `sp-${seconds}.raw`);
  execFileSync('espeak-ng', ['-w', wav, sentence.repeat(Math.ceil(seconds / 3) + 1)]);
  execFileSync('ffmpeg', [
    '-y',
    '-v',
    'error',
    '-i',
    wav,
    '-ac',
    '1',
    '-ar',
    String(RATE),
    '-t',
    String(seconds),
    '-f',
    's16le',
    raw,
  ]);
  return readFileSync(raw);
}

/** A canonical 16 kHz mono PCM16 WAV around s16le bytes. */
function wav(pcm: Buffer): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0);
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(RATE, 24);
  h.writeUInt32LE(RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36);
  h.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([h, pcm]);
}

function encode(dir: string, pcm: Buffer, ext: string, codec: string[]): Buffer {
  const src = join(dir, `src-${Date.now()}.wav`);
  const out = join(dir, `enc-${Date.now()}.${ext}`);
  writeFileSync(src, wav(pcm));
  execFileSync('ffmpeg', ['-y', '-v', 'error', '-i', src, ...codec, out]);
  return readFileSync(out);
}

function form(file: Buffer, name: string, fields: Record<string, string> = {}): FormData {
  const f = new FormData();
  f.append('file', new Blob([new Uint8Array(file)]), name);
  for (const [k, v] of Object.entries(fields)) f.append(k, v);
  return f;
}

interface Segment {
  t0: number;
  t1: number;
  text: string;
}

function expectSaneSegments(segments: Segment[], durationMs: number): void {
  expect(segments.length).toBeGreaterThan(0);
  let prev = 0;
  for (const s of segments) {
    expect(s.t0).toBeGreaterThanOrEqual(prev);
    expect(s.t1).toBeGreaterThanOrEqual(s.t0);
    expect(s.t1).toBeLessThanOrEqual(Math.ceil(durationMs) + 1);
    expect(s.text.length).toBeGreaterThan(0);
    prev = s.t1;
  }
}

/** Parses a server-sent event stream until it ends. */
async function readSse(url: string): Promise<Array<{ event: string; data: unknown }>> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: Array<{ event: string; data: unknown }> = [];
  const text = await res.text();
  for (const block of text.split('\n\n')) {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (event && data) events.push({ event, data: JSON.parse(data) });
  }
  return events;
}

describe('STT across processes (orchestrator + 2 workers, synthetic model)', () => {
  const run = testRunId('stt');
  const quiet = createLogger({
    service: 'e2e',
    nodeId: 'e2e',
    level: 'error',
    stream: new Writable({ write: (_c, _e, cb) => cb() }),
  });
  let dir: string;
  let nats: PrivateServer;
  let client: NatsMessaging;
  let orchestrator: ServiceProcess;
  const workers = new Map<string, ServiceProcess>();
  let stt: string;
  let engineEnv: Record<string, string>;
  let healthBefore: { status: number; body: Record<string, unknown> };
  let s3: Buffer;
  let s12: Buffer;

  const workerEnv = (id: string, port: number) => ({
    ...engineEnv,
    NATS_URL: nats.url,
    PARLEY_NODE_ID: id,
    STT_WORKER_HTTP_PORT: String(port),
    STT_WORKER_HTTP_HOST: '127.0.0.1',
    STT_WORKER_THREADS: '1',
    STT_WORKER_BATCH_WINDOW_MS: String(WINDOW_MS),
    STT_WORKER_HEARTBEAT_MS: '500',
    STT_JOB_ACK_WAIT_MS: String(ACK_WAIT_MS),
    LOG_LEVEL: 'info',
  });

  async function startWorker(id: string): Promise<ServiceProcess> {
    const port = await freePort();
    const p = spawnService('stt-worker', workerEnv(id, port));
    workers.set(id, p);
    await waitForHttp(`http://127.0.0.1:${port}/ready`, 200, 60_000);
    return p;
  }

  const job = async (id: string): Promise<Job> =>
    (await (await fetch(`${stt}/v1/jobs/${id}`)).json()) as Job;

  async function submit(file: Buffer, name: string, fields: Record<string, string> = {}) {
    const res = await fetch(`${stt}/v1/jobs`, { method: 'POST', body: form(file, name, fields) });
    const body = (await res.json()) as SttJobStatus;
    expect(res.status).toBe(202);
    return body;
  }

  async function finished(id: string, timeoutMs = 60_000): Promise<Job> {
    return eventually(async () => {
      const j = await job(id);
      return ['completed', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
    }, timeoutMs);
  }

  function collect<C extends EventContract>(contract: C, token: string) {
    const seen: Array<PayloadOf<C>> = [];
    const stop = client.subscribe(contract, (e) => void seen.push(e), { tokens: [token] });
    return { seen, stop };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-stt-e2e-'));
    const addon = runSetup('whisper');
    const fixture = runSetup('whisper-fixture');
    engineEnv = {
      PARLEY_WHISPER_ADDON: addon['PARLEY_WHISPER_ADDON'] ?? '',
      PARLEY_WHISPER_SYNTHETIC_MODEL: fixture['PARLEY_WHISPER_SYNTHETIC_MODEL'] ?? '',
    };
    s3 = speech(dir, 3);
    s12 = speech(dir, 12);
    nats = await startNatsServer();
    const port = await freePort();
    stt = `http://127.0.0.1:${port}`;
    orchestrator = spawnService('stt', {
      NATS_URL: nats.url,
      STT_HTTP_PORT: String(port),
      STT_HTTP_HOST: '127.0.0.1',
      STT_JOB_ACK_WAIT_MS: String(ACK_WAIT_MS),
      STT_MAX_UPLOAD_BYTES: String(3 * 1024 * 1024),
      STT_MAX_AUDIO_S: '60',
      LOG_LEVEL: 'info',
    });
    await waitForHttp(`${stt}/ready`, 200, 60_000);
    const h = await fetch(`${stt}/health`);
    healthBefore = { status: h.status, body: (await h.json()) as Record<string, unknown> };
    await Promise.all([startWorker(`w1-${run}`), startWorker(`w2-${run}`)]);
    await waitForHttp(`${stt}/health`, 200, 30_000);
    client = new NatsMessaging({ servers: [nats.url], name: 'e2e', queue: 'e2e', logger: quiet });
    client.start();
    await client.waitUntilConnected();
  }, 300_000);

  const exited: ServiceProcess[] = [];

  afterAll(async () => {
    await client?.close();
    await Promise.all([...workers.values(), orchestrator].map((p) => p?.stop()));
    // PARLEY_E2E_LOG_DIR=<dir> keeps every process's log lines for a post-mortem.
    const logDir = process.env['PARLEY_E2E_LOG_DIR'];
    if (logDir) {
      for (const p of [...workers.values(), ...exited, orchestrator]) {
        const id = p === orchestrator ? 'stt' : String(p.proc.pid);
        writeFileSync(
          join(logDir, `${id}.log`),
          [...p.logs.map((l) => JSON.stringify(l)), ...p.text].join('\n'),
        );
      }
    }
    await nats?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('/health is whisper.cpp’s: 503 with a status until a worker has its model loaded, then {"status":"ok"}; /ready shows the synthetic model', async () => {
    expect(healthBefore.status).toBe(503);
    expect(healthBefore.body['status']).toBe('no workers');
    const res = await fetch(`${stt}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', ready: 2 });
    const ready = (await (await fetch(`${stt}/ready`)).json()) as {
      checks: Array<{ name: string; reason?: string }>;
    };
    expect(ready.checks.find((c) => c.name === 'workers')?.reason).toMatch(/2 on the SYNTHETIC/);
    const w1 = workers.get(`w1-${run}`);
    expect(w1?.logs.some((l) => l['level'] === 'warn' && /SYNTHETIC/.test(String(l['msg'])))).toBe(
      true,
    );
  });

  it('POST /inference takes a multipart file as whisper.cpp’s server does and answers json, text, srt, vtt and verbose_json', async () => {
    const file = wav(s3);
    const post = (fields: Record<string, string>) =>
      fetch(`${stt}/inference`, { method: 'POST', body: form(file, 'clip.wav', fields) });

    const json = await post({
      temperature: '0.0',
      temperature_inc: '0.2',
      response_format: 'json',
    });
    expect(json.status).toBe(200);
    expect(json.headers.get('x-parley-lane')).toBe('realtime');
    const text = ((await json.json()) as { text: string }).text;
    expect(text.trim().length).toBeGreaterThan(0);

    const verbose = await post({ response_format: 'verbose_json', language: 'en' });
    const v = (await verbose.json()) as {
      task: string;
      duration: number;
      segments: Array<{ id: number; start: number; end: number; text: string }>;
    };
    expect(v.task).toBe('transcribe');
    expect(v.duration).toBeCloseTo(3, 1);
    expectSaneSegments(
      v.segments.map((s) => ({ t0: s.start * 1000, t1: s.end * 1000, text: s.text })),
      3000,
    );

    const srt = await post({ 'response-format': 'srt' });
    expect(srt.headers.get('content-type')).toMatch(/application\/x-subrip/);
    expect(await srt.text()).toMatch(/^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n.+\n\n/);
    const vtt = await post({ response_format: 'vtt' });
    expect(vtt.headers.get('content-type')).toMatch(/text\/vtt/);
    expect(await vtt.text()).toMatch(/^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> /);
    const plain = await post({ response_format: 'text' });
    expect(plain.headers.get('content-type')).toMatch(/text\/plain/);

    // Longer than the realtime lane's limit: the same endpoint runs it as a job.
    const long = await fetch(`${stt}/inference`, {
      method: 'POST',
      body: form(wav(Buffer.concat([s12, s12])), 'long.wav', { response_format: 'verbose_json' }),
    });
    expect(long.status).toBe(200);
    expect(long.headers.get('x-parley-lane')).toBe('job');
    const lv = (await long.json()) as {
      segments: Array<{ start: number; end: number; text: string }>;
    };
    expectSaneSegments(
      lv.segments.map((s) => ({ t0: s.start * 1000, t1: s.end * 1000, text: s.text })),
      24_000,
    );
  });

  it('bad input gets a clear 4xx and code from every edge, and the workers keep serving', async () => {
    const inference = async (file: Buffer | undefined, fields: Record<string, string> = {}) => {
      const body = file ? form(file, 'x', fields) : new FormData();
      if (!file) body.append('temperature', '0');
      const res = await fetch(`${stt}/inference`, { method: 'POST', body });
      return { status: res.status, body: (await res.json()) as { code?: string; error?: string } };
    };
    const good = wav(s3);
    expect(await inference(Buffer.from('this is not audio at all'))).toMatchObject({
      status: 400,
      body: { code: 'BAD_AUDIO' },
    });
    expect(await inference(good.subarray(0, good.length / 2))).toMatchObject({
      status: 400,
      body: { code: 'BAD_AUDIO' },
    });
    expect(await inference(Buffer.alloc(0))).toMatchObject({
      status: 400,
      body: { code: 'EMPTY_AUDIO' },
    });
    expect(await inference(wav(Buffer.alloc(0)))).toMatchObject({
      status: 400,
      body: { code: 'EMPTY_AUDIO' },
    });
    expect(await inference(good, { language: 'xx' })).toMatchObject({
      status: 400,
      body: { code: 'UNSUPPORTED_LANGUAGE' },
    });
    expect(await inference(good, { response_format: 'xml' })).toMatchObject({
      status: 400,
      body: { code: 'BAD_OPTIONS' },
    });
    const missing = await inference(undefined);
    expect(missing).toMatchObject({ status: 400, body: { code: 'BAD_REQUEST' } });
    expect(missing.body.error).toMatch(/file/);
    // Over the 60 s duration limit (61 s of silence), over the 3 MB upload limit.
    expect(await inference(wav(Buffer.alloc(61 * RATE * 2)))).toMatchObject({
      status: 413,
      body: { code: 'AUDIO_TOO_LONG' },
    });
    const huge = await fetch(`${stt}/v1/jobs`, {
      method: 'POST',
      body: form(Buffer.alloc(4 * 1024 * 1024), 'big.wav'),
    });
    expect(huge.status).toBe(413);
    expect(await huge.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });

    // Malformed NATS payloads.
    const raw = await connect({ servers: nats.url });
    try {
      for (const subject of [
        sttContracts.realtimeTranscribe.subject,
        sttContracts.jobSubmit.subject,
      ]) {
        const reply = JSON.parse(
          new TextDecoder().decode(
            (await raw.request(subject, new TextEncoder().encode('{nope'))).data,
          ),
        ) as { ok: boolean; error: { code: string } };
        expect(reply).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
      }
      // Audio requests are binary frames (header length, JSON header, PCM): broken ones too.
      const frame = (header: string, audioBytes: number) => {
        const h = Buffer.from(header);
        const b = Buffer.alloc(4 + h.length + audioBytes);
        b.writeUInt32BE(h.length, 0);
        h.copy(b, 4);
        return b;
      };
      const ok = '{"utteranceId":"bad1","kind":"final","startMs":0}';
      for (const [payload, says] of [
        [Buffer.from([0, 0]), /shorter than a frame/],
        [Buffer.from([0, 0, 1, 0, 1, 2, 3]), /runs past the end/],
        [Buffer.from([0x7f, 0, 0, 0]), /over the \d+ bytes allowed/],
        [frame('not json', 64), /not UTF-8 JSON/],
        [frame('[1,2]', 64), /not a JSON object/],
        [frame('{"utteranceId":"bad1","kind":"final","audio":"AAAA"}', 0), /must not hold audio/],
        [frame(ok, 33), /whole 16-bit samples/],
        [frame('{"utteranceId":"bad 1","kind":"final"}', 64), /utteranceId/],
      ] as const) {
        const reply = JSON.parse(
          new TextDecoder().decode(
            (await raw.request(sttContracts.realtimeTranscribe.subject, payload)).data,
          ),
        ) as { ok: boolean; error: { code: string; message: string } };
        expect(reply).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
        expect(reply.error.message).toMatch(says);
      }
    } finally {
      await raw.close();
    }
    const natsCode = async (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (e: unknown) => (e instanceof MessagingError ? e.code : String(e)),
      );
    expect(
      await natsCode(
        client.request(sttContracts.realtimeTranscribe, {
          utteranceId: 'u1',
          kind: 'final',
          startMs: 0,
          audio: s3,
          language: 'zz',
        }),
      ),
    ).toBe('UNSUPPORTED_LANGUAGE');
    expect(
      await natsCode(
        client.request(sttContracts.realtimeTranscribe, {
          utteranceId: 'u1',
          kind: 'final',
          startMs: 0,
          audio: new Uint8Array(0),
        }),
      ),
    ).toBe('EMPTY_AUDIO');
    expect(
      await natsCode(
        client.request(
          sttContracts.streamAudio,
          { streamId: 'nope', seq: 0, audio: s3.subarray(0, 3200) },
          { tokens: [`w1-${run}`] },
        ),
      ),
    ).toBe('STREAM_NOT_FOUND');
    expect(
      await natsCode(client.request(sttContracts.jobGet, { jobId: 'job_does_not_exist' })),
    ).toBe('NOT_FOUND');

    // Nobody crashed.
    for (const w of workers.values()) expect(w.proc.exitCode).toBeNull();
    expect((await inference(good)).status).toBe(200);
  });

  it('a job over HTTP (Ogg/Opus) goes queued → running → completed with growing progress and segments inside the audio, in one delivery although it outlasts the ack wait', async () => {
    const ogg = encode(dir, Buffer.concat([s12, s12, s12, s12]), 'ogg', ['-c:a', 'libopus']);
    const t0 = Date.now();
    const created = await submit(ogg, 'talk.ogg', { language: 'en' });
    expect(created).toMatchObject({ state: 'queued', progress: 0, options: { language: 'en' } });
    expect(created.durationMs).toBeGreaterThan(47_800);
    const seen = new Set<string>();
    const progress: number[] = [];
    const done = await eventually(
      async () => {
        const j = await job(created.jobId);
        seen.add(j.state);
        progress.push(j.progress);
        return j.state === 'completed' ? j : undefined;
      },
      60_000,
      100,
    );
    expect(seen.has('running') || seen.has('queued')).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // working() kept the job from being redelivered while its windows kept finishing.
    expect(Date.now() - t0).toBeGreaterThan(ACK_WAIT_MS);
    expect(done).toMatchObject({ state: 'completed', progress: 100, attempts: 1 });
    expectSaneSegments(done.result?.segments ?? [], done.durationMs);
    expect(done.result?.segments.map((s) => s.id)).toEqual(done.result?.segments.map((_, i) => i));
    expect(done.result?.model.synthetic).toBe(true);

    const srt = await fetch(`${stt}/v1/jobs/${created.jobId}/result?response_format=srt`);
    expect(srt.status).toBe(200);
    expect((await srt.text()).split('\n\n').filter(Boolean)).toHaveLength(
      done.result?.segments.length ?? -1,
    );
    // MP3, FLAC and WebM decode too.
    for (const [ext, codec] of [
      ['mp3', ['-c:a', 'libmp3lame']],
      ['flac', ['-c:a', 'flac']],
      ['webm', ['-c:a', 'libopus']],
    ] as const) {
      const j = await submit(encode(dir, s3, ext, [...codec]), `clip.${ext}`);
      expect(j.durationMs).toBeGreaterThan(2900);
      expect((await finished(j.jobId)).state).toBe('completed');
    }
  });

  it('SSE progress events of a job arrive in order: state, segments and growing progress, then completed', async () => {
    const created = await submit(wav(s12), 'sse.wav');
    const events = await readSse(`${stt}/v1/jobs/${created.jobId}/events`);
    expect(events[0]?.event).toBe('state');
    expect(events.at(-1)?.event).toBe('completed');
    const progress = events
      .filter((e) => e.event === 'progress')
      .map((e) => (e.data as { progress: number }).progress);
    // 12 s in 4 s windows: about three windows, each announced, ending at 100 %.
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(new Set(progress).size).toBe(progress.length);
    expect(progress.at(-1)).toBe(100);
    const segments = events
      .filter((e) => e.event === 'segment')
      .map((e) => e.data as Segment & { id: number });
    expect(segments.map((s) => s.id)).toEqual(segments.map((_, i) => i));
    expectSaneSegments(segments, created.durationMs);
    // A late subscriber gets the whole story replayed.
    const replay = await readSse(`${stt}/v1/jobs/${created.jobId}/events`);
    expect(replay.filter((e) => e.event === 'segment')).toHaveLength(segments.length);
    expect(replay.at(-1)?.event).toBe('completed');
  });

  it('a job over NATS: stt.job.submit, progress/segment/completed events on stt.job.*.<jobId>, stt.job.get with the result', async () => {
    const jobId = `nats-${run}`;
    const progress = collect(sttEvents.jobProgress, jobId);
    const segments = collect(sttEvents.jobSegment, jobId);
    const completed = collect(sttEvents.jobCompleted, jobId);
    const flac = encode(dir, s12, 'flac', ['-c:a', 'flac']);
    const created = await client.request(sttContracts.jobSubmit, {
      jobId,
      audio: flac,
      filename: 'talk.flac',
      options: { language: 'en' },
    });
    expect(created).toMatchObject({ jobId, state: 'queued' });
    // Idempotent by id.
    const again = await client.request(sttContracts.jobSubmit, {
      jobId,
      audio: flac,
    });
    expect(again.jobId).toBe(jobId);
    await eventually(() => completed.seen.length === 1, 60_000);
    const got = await client.request(sttContracts.jobGet, { jobId, includeResult: true });
    expect(got.job.state).toBe('completed');
    expect(got.result?.segments).toHaveLength(segments.seen.length);
    expect(completed.seen[0]).toMatchObject({ jobId, segments: segments.seen.length });
    const p = progress.seen.map((e) => e.progress);
    expect(p).toEqual([...p].sort((a, b) => a - b));
    expect(p.at(-1)).toBe(100);
    for (const s of [progress, segments, completed]) s.stop();
  });

  it('the realtime lane: partials and the final of an utterance fan out to the room with the speaker; silence transcribes nothing', async () => {
    const roomId = `room-${run}`;
    const partials = collect(sttEvents.transcriptPartial, roomId);
    const finals = collect(sttEvents.transcriptFinalized, roomId);
    const base = { roomId, participantId: 'alice', utteranceId: `u-${run}` };
    const partial = await client.request(sttContracts.realtimeTranscribe, {
      ...base,
      kind: 'partial',
      seq: 0,
      startMs: 10_000,
      audio: s3.subarray(0, RATE * 2 * 1.5),
    });
    const final = await client.request(sttContracts.realtimeTranscribe, {
      ...base,
      kind: 'final',
      startMs: 10_000,
      audio: s3,
    });
    expect(partial).toMatchObject({ kind: 'partial', speech: true });
    expect(final).toMatchObject({ kind: 'final', speech: true, startMs: 10_000, endMs: 13_000 });
    expectSaneSegments(
      final.segments.map((s) => ({ ...s, t0: s.t0 - 10_000, t1: s.t1 - 10_000 })),
      3000,
    );
    expect(final.segments[0]?.t0).toBeGreaterThanOrEqual(10_000);
    await eventually(() => partials.seen.length === 1 && finals.seen.length === 1, 5000);
    expect(finals.seen[0]).toMatchObject({
      roomId,
      participantId: 'alice',
      utteranceId: base.utteranceId,
      final: true,
      text: final.text,
    });
    expect(partials.seen[0]).toMatchObject({ participantId: 'alice', final: false, seq: 0 });

    const silence = await client.request(sttContracts.realtimeTranscribe, {
      ...base,
      utteranceId: `quiet-${run}`,
      kind: 'final',
      startMs: 0,
      audio: Buffer.alloc(RATE * 2 * 3),
    });
    expect(silence).toMatchObject({ speech: false, text: '', segments: [] });
    await new Promise((r) => setTimeout(r, 300));
    expect(finals.seen.some((e) => e.utteranceId === `quiet-${run}`)).toBe(false);
    partials.stop();
    finals.stop();
  });

  it('a realtime stream: the worker segments pushed audio, sends interval partials and a final per utterance', async () => {
    const roomId = `stream-${run}`;
    const partials = collect(sttEvents.transcriptPartial, roomId);
    const finals = collect(sttEvents.transcriptFinalized, roomId);
    const { streamId, workerId } = await client.request(sttContracts.streamOpen, {
      roomId,
      participantId: 'bob',
      partialIntervalMs: 700,
    });
    const audio = Buffer.concat([
      Buffer.alloc(RATE * 2), // 1 s silence
      s3,
      Buffer.alloc(RATE * 2),
      s3.subarray(0, RATE * 2 * 2),
      Buffer.alloc(RATE * 2),
    ]);
    // Pushed in real time, 200 ms chunks, as the SFU tap would.
    const chunk = RATE * 2 * 0.2;
    const t0 = Date.now();
    let seq = 0;
    for (let o = 0; o < audio.length; o += chunk) {
      await client.request(
        sttContracts.streamAudio,
        { streamId, seq: seq++, audio: audio.subarray(o, o + chunk) },
        { tokens: [workerId] },
      );
      const due = t0 + seq * 200 - Date.now();
      if (due > 0) await new Promise((r) => setTimeout(r, due));
    }
    // A retried chunk (same seq) is not fed twice.
    const dup = await client.request(
      sttContracts.streamAudio,
      { streamId, seq: seq - 1, audio: audio.subarray(0, chunk) },
      { tokens: [workerId] },
    );
    expect(dup.dropped).toBe(1);
    const closed = await client.request(
      sttContracts.streamClose,
      { streamId },
      { tokens: [workerId] },
    );
    expect(closed.utterances).toBe(2);
    await eventually(() => finals.seen.length === 2, 10_000);
    expect(finals.seen.map((f) => f.participantId)).toEqual(['bob', 'bob']);
    expect(new Set(finals.seen.map((f) => f.utteranceId)).size).toBe(2);
    // Utterances on the stream timeline: the first speech starts at about 1 s, the second at 5 s.
    expect(finals.seen[0]?.startMs).toBeGreaterThan(600);
    expect(finals.seen[0]?.startMs).toBeLessThan(1200);
    expect(finals.seen[1]?.startMs).toBeGreaterThan(4600);
    expect(partials.seen.length).toBeGreaterThanOrEqual(2);
    partials.stop();
    finals.stop();
  });

  it('DELETE /v1/jobs/:id cancels a running job (its worker stops), 409 once finished, 404 for unknown ids', async () => {
    const created = await submit(wav(Buffer.concat([s12, s12, s12, s12])), 'cancel.wav');
    await eventually(
      async () => ((await job(created.jobId)).state === 'running' ? true : undefined),
      30_000,
    );
    const del = await fetch(`${stt}/v1/jobs/${created.jobId}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toMatchObject({ state: 'cancelled' });
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const after = await job(created.jobId);
    expect(after.state).toBe('cancelled');
    expect(after.progress).toBeLessThan(100);
    // Cancelling again is idempotent; a finished job cannot be cancelled; unknown ids are 404.
    const again = await fetch(`${stt}/v1/jobs/${created.jobId}`, { method: 'DELETE' });
    expect(again.status).toBe(200);
    expect((await fetch(`${stt}/v1/jobs/job_nope`, { method: 'DELETE' })).status).toBe(404);
    // The worker took its next job at once.
    const next = await submit(wav(s3), 'next.wav');
    expect((await finished(next.jobId, 30_000)).state).toBe('completed');
    const late = await fetch(`${stt}/v1/jobs/${next.jobId}`, { method: 'DELETE' });
    expect(late.status).toBe(409);
    expect(await late.json()).toMatchObject({ code: 'CONFLICT' });
    // Jobs cancelled at once — still queued, or just being picked up — never wedge a worker.
    const quick = await Promise.all(
      Array.from({ length: 4 }, (_, i) => submit(wav(s12), `quick-${i}.wav`)),
    );
    for (const [i, q] of quick.entries()) {
      await new Promise((r) => setTimeout(r, i * 15));
      expect((await fetch(`${stt}/v1/jobs/${q.jobId}`, { method: 'DELETE' })).status).toBe(200);
    }
    const both = await Promise.all([submit(wav(s3), 'a.wav'), submit(wav(s3), 'b.wav')]);
    for (const b of both) expect((await finished(b.jobId, 30_000)).state).toBe('completed');
  });

  it('POST /load swaps the model on every worker; paths outside the model directories are refused', async () => {
    const load = async (model: string) => {
      const f = new FormData();
      f.append('model', model);
      return fetch(`${stt}/load`, { method: 'POST', body: f });
    };
    const ok = await load(engineEnv['PARLEY_WHISPER_SYNTHETIC_MODEL'] ?? '');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('Load was successful!');
    expect((await load('/etc/passwd')).status).toBe(403);
    const missing = await load('/nonexistent/ggml-model.bin');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'MODEL_NOT_FOUND' });
    await waitForHttp(`${stt}/health`, 200, 10_000);
  });

  it('kill -9 of the worker running a job: the job completes on the other worker with exactly one stored result', async () => {
    const created = await submit(wav(Buffer.concat([s12, s12])), 'crash.wav');
    const running = await eventually(
      async () => {
        const j = await job(created.jobId);
        return j.state === 'running' && j.progress > 0 ? j : undefined;
      },
      30_000,
      50,
    );
    const victim = workers.get(running.workerId ?? '');
    expect(victim).toBeDefined();
    victim?.proc.kill('SIGKILL');
    await victim?.exited;
    workers.delete(running.workerId ?? '');
    if (victim) exited.push(victim);

    const done = await finished(created.jobId, 60_000);
    expect(done.state).toBe('completed');
    expect(done.attempts).toBe(2);
    expect(done.workerId).not.toBe(running.workerId);
    expectSaneSegments(done.result?.segments ?? [], done.durationMs);
    // The windows stored before the crash were kept: the result covers the whole file once.
    const nc = await connect({ servers: nats.url });
    try {
      const kv = await nc.jetstream().views.kv(STT_JETSTREAM.kvBucket, { bindOnly: true });
      let results = 0;
      for await (const e of await kv.history({ key: `${created.jobId}.result` })) {
        if (e.operation === 'PUT') results++;
      }
      expect(results).toBe(1);
      const windows: number[] = [];
      for await (const k of await kv.keys(`${created.jobId}.w.*`))
        windows.push(Number(k.split('.').at(-1)));
      expect(windows.sort((a, b) => a - b)).toEqual(windows.map((_, i) => i));
    } finally {
      await nc.close();
    }
    // Back to two workers for what follows.
    await startWorker(`w3-${run}`);
  });

  it('20 concurrent jobs all finish', async () => {
    const created = await Promise.all(
      Array.from({ length: 20 }, (_, i) => submit(wav(s3), `many-${i}.wav`)),
    );
    const done = await Promise.all(created.map((c) => finished(c.jobId, 180_000)));
    expect(done.map((d) => d.state)).toEqual(done.map(() => 'completed'));
    for (const d of done) expectSaneSegments(d.result?.segments ?? [], d.durationMs);
    const by = new Set(done.map((d) => d.workerId));
    expect(by.size).toBe(2);
  });

  it('nats-server restarted mid-queue: queued jobs survive and all complete', async () => {
    const created = await Promise.all(
      Array.from({ length: 6 }, (_, i) => submit(wav(s12), `restart-${i}.wav`)),
    );
    await eventually(
      async () => ((await job(created[0]?.jobId ?? '')).state === 'running' ? true : undefined),
      30_000,
    );
    await nats.restart();
    const done = await Promise.all(created.map((c) => finished(c.jobId, 180_000)));
    expect(done.map((d) => d.state)).toEqual(done.map(() => 'completed'));
    for (const d of done) expectSaneSegments(d.result?.segments ?? [], d.durationMs);
    // And the stack keeps serving new work.
    const after = await submit(wav(s3), 'after-restart.wav');
    expect((await finished(after.jobId, 60_000)).state).toBe('completed');
  });
});

describe('STT job whose deliveries run out', () => {
  it('fails with WORKER_LOST (never silently) when its only worker dies and no delivery is left', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-stt-e2e-'));
    const nats = await startNatsServer();
    const procs: ServiceProcess[] = [];
    try {
      const addon = runSetup('whisper');
      const fixture = runSetup('whisper-fixture');
      const common = {
        NATS_URL: nats.url,
        STT_JOB_ACK_WAIT_MS: '2000',
        STT_JOB_MAX_DELIVER: '1',
        LOG_LEVEL: 'info',
      };
      const sttPort = await freePort();
      const stt = `http://127.0.0.1:${sttPort}`;
      procs.push(spawnService('stt', { ...common, STT_HTTP_PORT: String(sttPort) }));
      const wPort = await freePort();
      const worker = spawnService('stt-worker', {
        ...common,
        PARLEY_WHISPER_ADDON: addon['PARLEY_WHISPER_ADDON'] ?? '',
        PARLEY_WHISPER_SYNTHETIC_MODEL: fixture['PARLEY_WHISPER_SYNTHETIC_MODEL'] ?? '',
        STT_WORKER_HTTP_PORT: String(wPort),
        STT_WORKER_THREADS: '1',
        STT_WORKER_BATCH_WINDOW_MS: '2000',
      });
      procs.push(worker);
      await waitForHttp(`${stt}/health`, 200, 60_000);
      const pcm = speech(dir, 30);
      const res = await fetch(`${stt}/v1/jobs`, {
        method: 'POST',
        body: form(wav(pcm), 'doomed.wav'),
      });
      const { jobId } = (await res.json()) as SttJobStatus;
      await eventually(
        async () => {
          const j = (await (await fetch(`${stt}/v1/jobs/${jobId}`)).json()) as Job;
          return j.state === 'running' ? j : undefined;
        },
        30_000,
        50,
      );
      worker.proc.kill('SIGKILL');
      // JetStream notices the exhausted job when a live worker pulls again.
      const w2Port = await freePort();
      procs.push(
        spawnService('stt-worker', {
          ...common,
          PARLEY_WHISPER_ADDON: addon['PARLEY_WHISPER_ADDON'] ?? '',
          PARLEY_WHISPER_SYNTHETIC_MODEL: fixture['PARLEY_WHISPER_SYNTHETIC_MODEL'] ?? '',
          STT_WORKER_HTTP_PORT: String(w2Port),
          STT_WORKER_THREADS: '1',
        }),
      );
      const failed = await eventually(async () => {
        const j = (await (await fetch(`${stt}/v1/jobs/${jobId}`)).json()) as Job;
        return j.state === 'failed' ? j : undefined;
      }, 30_000);
      expect(failed.error).toMatchObject({ code: 'WORKER_LOST' });
      expect(failed.error?.message).toMatch(/1 deliver/);
    } finally {
      await Promise.all(procs.map((p) => p.stop()));
      await nats.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
