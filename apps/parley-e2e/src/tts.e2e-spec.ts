import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decodeWav } from '@parley/audio';
import { type TtsStreamChunk, ttsContracts, ttsEvents } from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import {
  type ServiceProcess,
  WORKSPACE_ROOT,
  eventually,
  freePort,
  spawnService,
  testRunId,
  waitForHttp,
} from '@parley/testing';

const NATS = process.env['PARLEY_TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const VOICES = join(WORKSPACE_ROOT, '.parley', 'voices');
const STANDIN = join(WORKSPACE_ROOT, '.parley', 'bench-voices', 'parley-standin-medium.onnx');
const REAL_VOICE = process.env['PARLEY_PIPER_VOICE'];
// "Hello, world." in the fixture voice: 33 phoneme ids of 256 samples each.
const HELLO_WORLD_SAMPLES = 33 * 256;

function link(dir: string, model: string): void {
  const name = model.replace(/^.*\//u, '');
  symlinkSync(model, join(dir, name));
  symlinkSync(`${model}.json`, join(dir, `${name}.json`));
}

async function startTts(
  env: Record<string, string>,
): Promise<{ proc: ServiceProcess; url: string }> {
  const port = await freePort();
  const proc = spawnService('tts', {
    NATS_URL: NATS,
    REDIS_URL: REDIS,
    TTS_HTTP_PORT: String(port),
    LOG_LEVEL: 'info',
    ...env,
  });
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** Stderr and stdout of a process that exited, as one string. */
function output(p: ServiceProcess): string {
  return [...p.text, ...p.logs.map((l) => JSON.stringify(l))].join('\n');
}

describe('tts as a process (spawned, shared NATS and Redis)', () => {
  const run = testRunId();
  const dirs: string[] = [];
  const procs: ServiceProcess[] = [];
  let url: string;
  let client: NatsMessaging;

  const tempDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'parley-tts-e2e-'));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    execFileSync(
      process.execPath,
      [join(WORKSPACE_ROOT, 'scripts', 'setup', 'piper-fixture.mjs')],
      {
        stdio: 'pipe',
      },
    );
    const dir = tempDir();
    link(dir, join(VOICES, 'parley-fixture.onnx'));
    link(dir, join(VOICES, 'parley-fixture-multi.onnx'));
    // A voice with a broken config next to good ones: reported, not fatal.
    copyFileSync(join(VOICES, 'parley-fixture.onnx'), join(dir, 'parley-broken.onnx'));
    writeFileSync(join(dir, 'parley-broken.onnx.json'), '{"audio": {"sample_rate": 22050}');
    const tts = await startTts({
      TTS_VOICES_DIR: dir,
      REDIS_KEY_PREFIX: `${run}:`,
      // No usable ffmpeg on this node: Ogg/Opus must be refused clearly, the rest must work.
      TTS_FFMPEG: '/nonexistent/ffmpeg',
    });
    procs.push(tts.proc);
    url = tts.url;
    client = new NatsMessaging({
      servers: [NATS],
      name: 'tts-e2e',
      queue: 'e2e',
      logger: createLogger({
        service: 'e2e',
        nodeId: 'e2e',
        level: 'error',
        stream: new Writable({ write: (_c, _e, cb) => cb() }),
      }),
    });
    client.start();
    await client.waitUntilConnected();
    await waitForHttp(`${url}/ready`, 200, 60_000);
  });

  afterAll(async () => {
    await client?.close();
    await Promise.all(procs.map((p) => p.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('is ready once the default voice is loaded, and lists a broken voice as a problem', async () => {
    const ready = (await (await fetch(`${url}/ready`)).json()) as {
      checks: Array<{ name: string; ok: boolean; reason?: string }>;
    };
    expect(ready.checks).toContainEqual({
      name: 'voice',
      ok: true,
      reason: 'default voice parley-fixture loaded',
    });
    const list = (await (await fetch(`${url}/v1/voices`)).json()) as {
      voices: Array<{ name: string }>;
      problems: Array<{ name: string; code: string; message: string }>;
    };
    expect(list.voices.map((v) => v.name)).toEqual(['parley-fixture', 'parley-fixture-multi']);
    expect(list.problems).toEqual([
      expect.objectContaining({ name: 'parley-broken', code: 'BAD_VOICE_CONFIG' }),
    ]);
  });

  it('a client written for Piper gets a WAV from GET /?text= and POST /', async () => {
    const get = await fetch(`${url}/?text=${encodeURIComponent('Hello, world.')}`);
    expect(get.status).toBe(200);
    const wav = new Uint8Array(await get.arrayBuffer());
    expect(decodeWav(wav).samples.length).toBe(HELLO_WORLD_SAMPLES);
    const post = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'Hello, world.',
    });
    expect(Buffer.from(await post.arrayBuffer()).equals(Buffer.from(wav))).toBe(true);
    const info = (await (await fetch(`${url}/info`)).json()) as { voice: { name: string } };
    expect(info.voice.name).toBe('parley-fixture');
  });

  it('a repeated /v1/speech request is a cache hit with identical bytes', async () => {
    const body = JSON.stringify({ text: `Cached across processes, ${run}.` });
    const send = () =>
      fetch(`${url}/v1/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const first = await send();
    expect(first.headers.get('x-parley-cache')).toBe('miss');
    const a = Buffer.from(await first.arrayBuffer());
    const second = await eventually(async () => {
      const r = await send();
      return r.headers.get('x-parley-cache') === 'hit' ? r : undefined;
    });
    expect(Buffer.from(await second.arrayBuffer()).equals(a)).toBe(true);
  });

  it('without ffmpeg, format ogg is a 400 UNSUPPORTED_FORMAT that says what to use instead', async () => {
    const res = await fetch(`${url}/v1/speech`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Hello.', format: 'ogg' }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe('UNSUPPORTED_FORMAT');
    expect(body.message).toContain('use wav or pcm');
  });

  it('tts.synthesize over NATS streams numbered chunks ending with a final one', async () => {
    const streamId = `e2e-${run}`;
    const chunks: TtsStreamChunk[] = [];
    const off = client.subscribe(ttsEvents.streamChunk, (c) => void chunks.push(c), {
      tokens: [streamId],
    });
    await client.connection.flush();
    const reply = await client.request(ttsContracts.synthesize, {
      streamId,
      text: 'One sentence. Two sentences. Three!',
    });
    await eventually(() => chunks.length === reply.chunks);
    off();
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    expect(chunks.map((c) => c.type === 'audio' && c.final)).toEqual(
      chunks.map((_, i) => i === chunks.length - 1),
    );
    expect(reply.sentences).toBe(3);
  });

  it('PARLEY_PIPER_VOICE makes a voice outside the directory the default voice', async () => {
    const tts = await startTts({
      TTS_VOICES_DIR: VOICES,
      PARLEY_PIPER_VOICE: STANDIN,
      REDIS_KEY_PREFIX: `${run}b:`,
      TTS_CACHE: 'false',
    });
    procs.push(tts.proc);
    await waitForHttp(`${tts.url}/ready`, 200, 60_000);
    const info = (await (await fetch(`${tts.url}/info`)).json()) as { voice: { name: string } };
    expect(info.voice.name).toBe('parley-standin-medium');
    const res = await fetch(`${tts.url}/?text=${encodeURIComponent('This is a test.')}`);
    const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
    const config = JSON.parse(readFileSync(`${STANDIN}.json`, 'utf8')) as {
      audio: { sample_rate: number };
    };
    expect(wav.sampleRate).toBe(config.audio.sample_rate);
    expect(wav.durationSeconds).toBeGreaterThan(0.3);
    await tts.proc.stop();
  });

  (REAL_VOICE ? it : it.skip)(
    'with PARLEY_PIPER_VOICE set, the real voice speaks a sentence of plausible duration',
    async () => {
      const tts = await startTts({
        TTS_VOICES_DIR: VOICES,
        PARLEY_PIPER_VOICE: REAL_VOICE ?? '',
        REDIS_KEY_PREFIX: `${run}r:`,
        TTS_CACHE: 'false',
      });
      procs.push(tts.proc);
      await waitForHttp(`${tts.url}/ready`, 200, 120_000);
      const res = await fetch(`${tts.url}/v1/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'The quick brown fox jumps over the lazy dog.' }),
      });
      expect(res.status).toBe(200);
      const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
      expect(wav.durationSeconds).toBeGreaterThan(1.2);
      expect(wav.durationSeconds).toBeLessThan(6);
      await tts.proc.stop();
    },
  );

  it('a malformed config of the default voice stops the start with a message naming the file', async () => {
    const dir = tempDir();
    copyFileSync(join(VOICES, 'parley-fixture.onnx'), join(dir, 'parley-fixture.onnx'));
    const config = JSON.parse(readFileSync(join(VOICES, 'parley-fixture.onnx.json'), 'utf8')) as {
      phoneme_id_map?: unknown;
    };
    delete config.phoneme_id_map;
    writeFileSync(join(dir, 'parley-fixture.onnx.json'), JSON.stringify(config));
    const tts = await startTts({ TTS_VOICES_DIR: dir, REDIS_KEY_PREFIX: `${run}c:` });
    procs.push(tts.proc);
    expect(await tts.proc.exited).toBe(1);
    const out = output(tts.proc);
    expect(out).toContain('default voice parley-fixture is not usable');
    expect(out).toContain(join(dir, 'parley-fixture.onnx.json'));
    expect(out).toContain('phoneme_id_map');
  });

  it.each([
    [
      'PARLEY_PIPER_VOICE names a missing file',
      { PARLEY_PIPER_VOICE: '/nonexistent/voice.onnx' },
      'PARLEY_PIPER_VOICE /nonexistent/voice.onnx is not usable',
    ],
    [
      'the voices directory does not exist',
      { TTS_VOICES_DIR: '/nonexistent/voices' },
      'voices directory /nonexistent/voices does not exist',
    ],
  ])('the start fails clearly when %s', async (_what, env, message) => {
    const tts = await startTts({ ...env, REDIS_KEY_PREFIX: `${run}d:` });
    procs.push(tts.proc);
    expect(await tts.proc.exited).toBe(1);
    expect(output(tts.proc)).toContain(message);
  });
});
