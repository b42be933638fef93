import { request as httpRequest } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { bytesToInt16, decodeWav } from '@parley/audio';
import { type TtsStreamChunk, ttsContracts, ttsEvents } from '@parley/contracts';
import { type MessagingError, NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import { type RunningService, runService } from '@parley/runtime';
import {
  type PrivateServer,
  eventually,
  startNatsServer,
  startRedisServer,
  testRunId,
} from '@parley/testing';
import type { PiperVoice } from '@parley/tts-engine';
import {
  HELLO_WORLD_IDS,
  VOICES,
  ensureVoices,
  fixtureTones,
  maxNormalizedError,
  voicesDir,
} from '../test/fixture-voice';
import { ttsService } from './tts.definition';
import { TtsService } from './tts.service';

const quiet = () => new Writable({ write: (_c, _e, cb) => cb() });
const THREE = 'Hello there, friend. This is the second sentence! And here is a third one?';
const STANDIN_THREE =
  'Welcome to Parley, the self-hosted voice pipeline. It speaks the first sentence while the rest is being synthesised. Ask it anything!';

interface Streamed {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  trailers: Record<string, string | undefined>;
  body: Buffer;
  /** Each `data` event: when (performance.now()) and how many bytes in total so far. */
  arrivals: Array<{ at: number; total: number }>;
  /** Resolved with an error when the response was cut off. */
  error?: Error;
}

/** POSTs JSON with node:http (fetch hides trailers and cut-off chunked bodies). */
function post(
  url: string,
  body: unknown,
  onData?: (total: number, abort: () => void) => void,
): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const parts: Buffer[] = [];
        const arrivals: Streamed['arrivals'] = [];
        let total = 0;
        const done = (error?: Error) =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            trailers: res.trailers,
            body: Buffer.concat(parts),
            arrivals,
            error,
          });
        res.on('data', (b: Buffer) => {
          parts.push(b);
          total += b.length;
          arrivals.push({ at: performance.now(), total });
          onData?.(total, () => req.destroy());
        });
        res.on('end', () => done());
        res.on('error', (err) => done(err));
        res.on('aborted', () => done(new Error('aborted')));
      },
    );
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') resolve({} as Streamed);
      else reject(err);
    });
    req.end(payload);
  });
}

async function postJson(url: string, body: unknown): Promise<{ status: number; json: never }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as never };
}

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('tts service in-process (real onnxruntime and espeak-ng, private NATS and Redis)', () => {
  let nats: PrivateServer;
  let redis: PrivateServer;
  let svc: RunningService;
  let client: NatsMessaging;
  let dir: string;
  let url: string;
  let standin: PiperVoice;
  const run = testRunId();

  beforeAll(async () => {
    ensureVoices();
    dir = voicesDir([VOICES.fixture, VOICES.multi, VOICES.standin]);
    [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
    svc = await runService(ttsService, {
      env: {
        NATS_URL: nats.url,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: `${run}:`,
        TTS_HTTP_HOST: '127.0.0.1',
        TTS_HTTP_PORT: '0',
        TTS_VOICES_DIR: dir,
        TTS_MAX_CHARS: '2000',
        LOG_LEVEL: 'warn',
      },
      logStream: quiet(),
      noSignalHandlers: true,
    });
    url = svc.url;
    client = new NatsMessaging({
      servers: [nats.url],
      name: 'tts-test-client',
      queue: 'test',
      logger: createLogger({ service: 'test', nodeId: 'test', level: 'error', stream: quiet() }),
    });
    client.start();
    await client.waitUntilConnected();
    await eventually(async () => (await fetch(`${url}/ready`)).status === 200, 30_000);
    standin = await svc.app.get(TtsService).synth.voice('parley-standin-medium');
  });

  afterAll(async () => {
    await client?.close();
    await svc?.close();
    await Promise.all([nats?.dispose(), redis?.dispose()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  describe('voices and readiness', () => {
    it('/ready names the loaded default voice; GET /v1/voices lists every voice and the default', async () => {
      const ready = (await (await fetch(`${url}/ready`)).json()) as {
        checks: Array<{ name: string; ok: boolean; reason?: string }>;
      };
      expect(ready.checks.find((c) => c.name === 'voice')).toEqual({
        name: 'voice',
        ok: true,
        reason: 'default voice parley-fixture loaded',
      });
      const list = (await (await fetch(`${url}/v1/voices`)).json()) as {
        default: string;
        voices: Array<{ name: string; default: boolean; numSpeakers: number; loaded: boolean }>;
      };
      expect(list.default).toBe('parley-fixture');
      expect(list.voices.map((v) => [v.name, v.default, v.numSpeakers])).toEqual([
        ['parley-fixture', true, 1],
        ['parley-fixture-multi', false, 2],
        ['parley-standin-medium', false, 1],
      ]);
      expect(list.voices[0]?.loaded).toBe(true);
    });
  });

  describe('POST /v1/speech', () => {
    it('gives exactly 256 samples per phoneme id of the text, with the tone of each id', async () => {
      const r = await post(`${url}/v1/speech`, {
        text: 'Hello, world.',
        format: 'pcm',
        cache: false,
      });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('audio/pcm;rate=22050;channels=1;encoding=s16le');
      const pcm = bytesToInt16(r.body);
      expect(pcm.length).toBe(HELLO_WORLD_IDS.length * 256);
      expect(maxNormalizedError(pcm, fixtureTones(HELLO_WORLD_IDS))).toBeLessThanOrEqual(2);
    });

    it('lengthScale 0.5 halves and 2 doubles the duration, in a WAV with exact sizes', async () => {
      const samples = async (lengthScale: number) => {
        const res = await fetch(`${url}/v1/speech`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ text: 'Hello, world.', lengthScale, cache: false }),
        });
        expect(res.headers.get('content-type')).toBe('audio/wav');
        const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
        expect(wav.sampleRate).toBe(22050);
        return wav.samples.length;
      };
      const normal = await samples(1);
      expect(normal).toBe(HELLO_WORLD_IDS.length * 256);
      expect(await samples(0.5)).toBe(normal / 2);
      expect(await samples(2)).toBe(normal * 2);
    });

    it('stream: true sends the sentences in order, as one chunked body ending with X-Parley-Complete', async () => {
      const whole = await post(`${url}/v1/speech`, { text: THREE, format: 'pcm', cache: false });
      const streamed = await post(`${url}/v1/speech`, {
        text: THREE,
        format: 'wav',
        stream: true,
        cache: false,
      });
      expect(streamed.status).toBe(200);
      expect(streamed.headers['transfer-encoding']).toBe('chunked');
      expect(streamed.headers['x-parley-sentences']).toBe('3');
      expect(streamed.trailers['x-parley-complete']).toBe('true');
      expect(streamed.body.readUInt32LE(40)).toBe(0xffffffff);
      expect(streamed.body.subarray(44).equals(whole.body)).toBe(true);
    });

    it('stream: true delivers the first sentence before synthesis of the last one begins (medium-size voice)', async () => {
      const runs: Array<{ index: number; at: number; event: string; samples?: number }> = [];
      const onStart = (e: { index: number }) =>
        runs.push({ index: e.index, at: performance.now(), event: 'start' });
      const onEnd = (e: { index: number; samples: number }) =>
        runs.push({ index: e.index, at: performance.now(), event: 'end', samples: e.samples });
      standin.observer.on('runstart', onStart).on('runend', onEnd);
      let r: Streamed;
      try {
        r = await post(`${url}/v1/speech`, {
          text: STANDIN_THREE,
          voice: 'parley-standin-medium',
          format: 'pcm',
          stream: true,
          cache: false,
        });
      } finally {
        standin.observer.off('runstart', onStart).off('runend', onEnd);
      }
      expect(r.trailers['x-parley-complete']).toBe('true');
      const lastStart = runs.find((x) => x.event === 'start' && x.index === 2);
      const firstEnd = runs.find((x) => x.event === 'end' && x.index === 0);
      const secondEnd = runs.find((x) => x.event === 'end' && x.index === 1);
      expect(lastStart && firstEnd && secondEnd).toBeTruthy();
      const firstArrival = r.arrivals[0]?.at ?? Infinity;
      expect(firstArrival).toBeLessThan(lastStart?.at ?? 0);
      // Everything that arrived before the second sentence was done is the first sentence, whole.
      const before = r.arrivals.filter((a) => a.at < (secondEnd?.at ?? 0)).pop();
      expect(before?.total).toBe((firstEnd?.samples ?? -1) * 2);
      expect(r.body.length).toBe(
        runs.filter((x) => x.event === 'end').reduce((n, x) => n + (x.samples ?? 0), 0) * 2,
      );
    });

    it('a client that disconnects mid-stream stops the engine: no model run starts afterwards', async () => {
      const starts: number[] = [];
      const onStart = () => starts.push(performance.now());
      standin.observer.on('runstart', onStart);
      const abortedBefore = await metric(url, 'parley_tts_requests_total', 'outcome="aborted"');
      let abortedAt = 0;
      try {
        const six = `${STANDIN_THREE} ${STANDIN_THREE}`;
        await post(
          `${url}/v1/speech`,
          { text: six, voice: 'parley-standin-medium', format: 'pcm', stream: true, cache: false },
          (_total, abort) => {
            if (!abortedAt) {
              abortedAt = performance.now();
              abort();
            }
          },
        );
        // Longer than a sentence takes on this voice: a run that was going to start has.
        await new Promise((r) => setTimeout(r, 2500));
      } finally {
        standin.observer.off('runstart', onStart);
      }
      expect(abortedAt).toBeGreaterThan(0);
      expect(starts.length).toBeLessThanOrEqual(2);
      expect(starts.filter((t) => t > abortedAt)).toEqual([]);
      await eventually(
        async () =>
          (await metric(url, 'parley_tts_requests_total', 'outcome="aborted"')) > abortedBefore,
      );
    });

    it('POST /v1/phonemes tells the phonemes and the model ids of each sentence', async () => {
      const r = await postJson(`${url}/v1/phonemes`, { text: 'Hello, world. Hello, world!' });
      expect(r.status).toBe(200);
      const body = r.json as {
        voice: string;
        sentences: Array<{ phonemes: string; ids: number[] }>;
      };
      expect(body.voice).toBe('parley-fixture');
      expect(body.sentences.map((s) => s.phonemes)).toEqual(['həlˈoʊ, wˈɜːld.', 'həlˈoʊ, wˈɜːld!']);
      expect(body.sentences[0]?.ids).toEqual(HELLO_WORLD_IDS);
    });

    it('format ogg gives Ogg/Opus through ffmpeg', async () => {
      const r = await post(`${url}/v1/speech`, { text: 'Hello there.', format: 'ogg' });
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('audio/ogg;codecs=opus');
      expect(r.body.subarray(0, 4).toString('latin1')).toBe('OggS');
      expect(r.body.includes(Buffer.from('OpusHead'))).toBe(true);
    });
  });

  describe('cache', () => {
    it('a repeated request comes from the cache: identical bytes, no model run, in milliseconds', async () => {
      const body = { text: `Welcome back, ${run}. Nice to see you.`, format: 'wav' };
      const runs = await metric(url, 'parley_tts_model_runs_total', 'voice="parley-fixture"');
      const first = await post(`${url}/v1/speech`, body);
      expect(first.headers['x-parley-cache']).toBe('miss');
      const afterFirst = await metric(url, 'parley_tts_model_runs_total', 'voice="parley-fixture"');
      expect(afterFirst).toBe(runs + 2);
      // The entry is written right after the last sentence; give it a moment to land.
      await eventually(
        async () => (await metric(url, 'parley_tts_cache_operations_total', 'result="stored"')) > 0,
      );
      const t = performance.now();
      const second = await post(`${url}/v1/speech`, body);
      const ms = performance.now() - t;
      expect(second.headers['x-parley-cache']).toBe('hit');
      expect(second.body.equals(first.body)).toBe(true);
      expect(await metric(url, 'parley_tts_model_runs_total', 'voice="parley-fixture"')).toBe(
        afterFirst,
      );
      expect(ms).toBeLessThan(250);
      const streamed = await post(`${url}/v1/speech`, { ...body, stream: true });
      expect(streamed.headers['x-parley-cache']).toBe('hit');
      expect(streamed.trailers['x-parley-complete']).toBe('true');
      expect(streamed.body.subarray(44).equals(first.body.subarray(44))).toBe(true);
    });

    it('stores entries in Redis under the key prefix with a TTL', async () => {
      const { Redis } = await import('ioredis');
      const r = new Redis(redis.url);
      try {
        const keys = await r.keys(`${run}:tts:audio:a:*`);
        expect(keys.length).toBeGreaterThan(0);
        const ttl = await r.pttl(keys[0] as string);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(86_400_000);
        expect(Number(await r.get(`${run}:tts:audio:bytes`))).toBeGreaterThan(0);
      } finally {
        r.disconnect();
      }
    });

    it('with Redis down, requests are synthesised instead of failing and the node stays ready', async () => {
      const body = { text: `Redis is down, ${run}.`, format: 'wav' };
      const before = await post(`${url}/v1/speech`, { ...body, cache: false });
      const redisCheck = async () => {
        const res = await fetch(`${url}/ready`);
        const r = (await res.json()) as { checks: Array<{ name: string; reason?: string }> };
        return { status: res.status, reason: r.checks.find((c) => c.name === 'redis')?.reason };
      };
      await redis.stop();
      try {
        const down = await eventually(async () => {
          const c = await redisCheck();
          return c.reason?.startsWith('audio cache unavailable') ? c : undefined;
        }, 15_000);
        expect(down.status).toBe(200);
        const r = await post(`${url}/v1/speech`, body);
        expect(r.status).toBe(200);
        expect(r.headers['x-parley-cache']).toBe('miss');
        expect(r.body.equals(before.body)).toBe(true);
      } finally {
        await redis.restart();
      }
      await eventually(async () => (await redisCheck()).reason === 'audio cache available', 15_000);
    });
  });

  describe('Piper-compatible API', () => {
    it('GET /?text= answers a WAV of the text, as rhasspy/piper does', async () => {
      const res = await fetch(`${url}/?text=${encodeURIComponent('Hello, world.')}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('audio/wav');
      const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
      expect(wav.samples.length).toBe(HELLO_WORLD_IDS.length * 256);
    });

    it('POST / with a text body, POST / with piper1 JSON and POST /synthesize give the same WAV', async () => {
      const get = Buffer.from(
        await (await fetch(`${url}/?text=${encodeURIComponent('This is a test.')}`)).arrayBuffer(),
      );
      const text = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'This is a test.',
      });
      expect(text.status).toBe(200);
      const json = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'This is a test.' }),
      });
      const synth = await fetch(`${url}/synthesize`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'This is a test.' }),
      });
      const form = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'This is a test.',
      });
      for (const r of [json, synth, form]) {
        expect(r.status).toBe(200);
        expect(Buffer.from(await r.arrayBuffer()).equals(get)).toBe(true);
      }
      expect(Buffer.from(await text.arrayBuffer()).equals(get)).toBe(true);
    });

    it('piper1 JSON fields reach the model: voice, speaker_id, length_scale, noise_scale, noise_w_scale', async () => {
      const res = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          text: 'Hello, world.',
          voice: 'parley-fixture-multi',
          speaker_id: 1,
          length_scale: 2,
          noise_scale: 0.5,
          noise_w_scale: 0.5,
        }),
      });
      const wav = decodeWav(new Uint8Array(await res.arrayBuffer()));
      const expected = fixtureTones(HELLO_WORLD_IDS, {
        lengthScale: 2,
        noiseScale: 0.5,
        noiseW: 0.5,
        sid: 1,
      });
      expect(maxNormalizedError(wav.samples as Int16Array, expected)).toBeLessThanOrEqual(2);
      const byName = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          text: 'Hello, world.',
          voice: 'parley-fixture-multi',
          speaker: 'bob',
        }),
      });
      const bob = decodeWav(new Uint8Array(await byName.arrayBuffer()));
      expect(
        maxNormalizedError(bob.samples as Int16Array, fixtureTones(HELLO_WORLD_IDS, { sid: 1 })),
      ).toBeLessThanOrEqual(2);
    });

    it('an unknown voice or speaker falls back to the default, as Piper does', async () => {
      const def = Buffer.from(
        await (await fetch(`${url}/?text=${encodeURIComponent('Fallback.')}`)).arrayBuffer(),
      );
      const unknown = await fetch(`${url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'Fallback.', voice: 'no-such-voice', speaker: 'nobody' }),
      });
      expect(unknown.status).toBe(200);
      expect(Buffer.from(await unknown.arrayBuffer()).equals(def)).toBe(true);
    });

    it('GET /voices answers every voice’s .onnx.json by name, as piper1 does', async () => {
      const voices = (await (await fetch(`${url}/voices`)).json()) as Record<string, unknown>;
      expect(Object.keys(voices).sort()).toEqual([
        'parley-fixture',
        'parley-fixture-multi',
        'parley-standin-medium',
      ]);
      expect(voices['parley-fixture-multi']).toEqual(
        JSON.parse(readFileSync(`${VOICES.multi}.json`, 'utf8')),
      );
    });

    it('GET /info describes the default voice and the last synthesis, as piper1 does', async () => {
      await fetch(`${url}/?text=${encodeURIComponent('Hello, world.')}`);
      const info = (await (await fetch(`${url}/info`)).json()) as {
        voice: unknown;
        last: { text: string; synthesize_seconds: number; phonemes: string[]; alignments: [] };
      };
      expect(info.voice).toEqual({ name: 'parley-fixture', language: 'en-us', num_speakers: 1 });
      expect(info.last.text).toBe('Hello, world.');
      expect(info.last.phonemes.join('')).toBe('həlˈoʊ, wˈɜːld.'.normalize('NFD'));
      expect(info.last.synthesize_seconds).toBeGreaterThan(0);
      expect(info.last.alignments).toEqual([]);
    });

    it('empty text is a 400 with code EMPTY_TEXT', async () => {
      const res = await fetch(`${url}/?text=`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'EMPTY_TEXT' });
    });
  });

  describe('bad input', () => {
    it.each([
      ['empty text', { text: '' }, 400, 'EMPTY_TEXT'],
      ['whitespace-only text', { text: '   ' }, 400, 'EMPTY_TEXT'],
      ['text over TTS_MAX_CHARS', { text: 'a'.repeat(2001) }, 413, 'TEXT_TOO_LONG'],
      ['an unknown voice', { text: 'Hi.', voice: 'nope' }, 404, 'UNKNOWN_VOICE'],
      [
        'an unknown speaker name',
        { text: 'Hi.', voice: 'parley-fixture-multi', speaker: 'carol' },
        404,
        'UNKNOWN_SPEAKER',
      ],
      [
        'a speaker id past the last',
        { text: 'Hi.', voice: 'parley-fixture-multi', speaker: 7 },
        404,
        'UNKNOWN_SPEAKER',
      ],
      ['an emoji', { text: 'Hi 😀 there.' }, 422, 'UNSPEAKABLE_TEXT'],
      ['another script', { text: 'Привет.' }, 422, 'UNSPEAKABLE_TEXT'],
      ['lengthScale 0', { text: 'Hi.', lengthScale: 0 }, 400, 'BAD_REQUEST'],
      ['an unknown format', { text: 'Hi.', format: 'mp3' }, 400, 'BAD_REQUEST'],
      ['an unknown field', { text: 'Hi.', extra: true }, 400, 'BAD_REQUEST'],
    ])('POST /v1/speech with %s answers %i %s', async (_what, body, status, code) => {
      const r = await postJson(`${url}/v1/speech`, body);
      expect(r.status).toBe(status);
      expect(r.json).toMatchObject({ code, message: expect.any(String) });
    });

    it('unspeakable: "drop" speaks the rest', async () => {
      const dropped = await post(`${url}/v1/speech`, {
        text: 'Hi 😀 there.',
        unspeakable: 'drop',
        format: 'pcm',
        cache: false,
      });
      const plain = await post(`${url}/v1/speech`, {
        text: 'Hi  there.',
        format: 'pcm',
        cache: false,
      });
      expect(dropped.status).toBe(200);
      expect(dropped.body.equals(plain.body)).toBe(true);
    });

    it('a body that is not JSON is a 400, not a crash', async () => {
      const res = await fetch(`${url}/v1/speech`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"text": ',
      });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'BAD_REQUEST' });
    });
  });

  describe('NATS', () => {
    async function collect(
      streamId: string,
      send: () => Promise<unknown>,
    ): Promise<{ chunks: TtsStreamChunk[]; reply?: unknown; error?: MessagingError }> {
      const chunks: TtsStreamChunk[] = [];
      const off = client.subscribe(ttsEvents.streamChunk, (c) => void chunks.push(c), {
        tokens: [streamId],
      });
      await client.connection.flush();
      try {
        const reply = await send();
        await eventually(() => chunks.some((c) => c.type === 'error' || c.final), 5000);
        return { chunks, reply };
      } catch (err) {
        await eventually(() => chunks.some((c) => c.type === 'error'), 5000);
        return { chunks, error: err as MessagingError };
      } finally {
        off();
      }
    }

    it('tts.synthesize streams numbered chunks in sentence order with a final marker, then replies', async () => {
      const streamId = `s-${run}-1`;
      const roomId = `room-${run}`;
      const events: Array<{ subject: string; reason?: string }> = [];
      const offStart = client.subscribe(
        ttsEvents.speechStarted,
        (_e, meta) => void events.push({ subject: meta.subject }),
        { tokens: [roomId] },
      );
      const offEnd = client.subscribe(
        ttsEvents.speechEnded,
        (e, meta) => void events.push({ subject: meta.subject, reason: e.reason }),
        { tokens: [roomId] },
      );
      const { chunks, reply } = await collect(streamId, () =>
        client.request(ttsContracts.synthesize, {
          streamId,
          roomId,
          text: THREE,
          cache: false,
          maxChunkBytes: 8192,
        }),
      );
      offStart();
      offEnd();
      const audio = chunks.filter((c) => c.type === 'audio');
      expect(audio.map((c) => c.seq)).toEqual(audio.map((_, i) => i));
      expect(audio.length).toBeGreaterThan(3);
      const sentences = audio.map((c) => c.sentence);
      expect(sentences).toEqual([...sentences].sort((a, b) => a - b));
      expect(new Set(sentences)).toEqual(new Set([0, 1, 2]));
      expect(audio.filter((c) => c.sentenceEnd).map((c) => c.sentence)).toEqual([0, 1, 2]);
      expect(audio.map((c) => c.final)).toEqual(audio.map((_, i) => i === audio.length - 1));
      const pcm = Buffer.concat(audio.map((c) => Buffer.from(c.pcm, 'base64')));
      const http = await post(`${url}/v1/speech`, { text: THREE, format: 'pcm', cache: false });
      expect(pcm.equals(http.body)).toBe(true);
      expect(reply).toEqual({
        streamId,
        voice: 'parley-fixture',
        sampleRate: 22050,
        chunks: audio.length,
        sentences: 3,
        samples: pcm.length / 2,
        durationSeconds: pcm.length / 2 / 22050,
        cached: false,
      });
      await eventually(() => events.length === 2);
      expect(events).toEqual([
        { subject: `tts.speech.started.${roomId}` },
        { subject: `tts.speech.ended.${roomId}`, reason: 'done' },
      ]);
    });

    it('tts.synthesize of an unknown voice replies UNKNOWN_VOICE and ends the stream with an error message', async () => {
      const streamId = `s-${run}-2`;
      const { chunks, error } = await collect(streamId, () =>
        client.request(ttsContracts.synthesize, { streamId, text: 'Hi.', voice: 'nope' }),
      );
      expect(error?.code).toBe('UNKNOWN_VOICE');
      expect(chunks).toEqual([
        {
          type: 'error',
          streamId,
          seq: 0,
          error: expect.objectContaining({ code: 'UNKNOWN_VOICE' }),
        },
      ]);
    });

    it('tts.stream.cancelled stops a stream: ABORTED reply, error marker, never a final chunk', async () => {
      const streamId = `s-${run}-3`;
      const starts: number[] = [];
      const onStart = () => starts.push(performance.now());
      standin.observer.on('runstart', onStart);
      let cancelledAt = 0;
      const off = client.subscribe(
        ttsEvents.streamChunk,
        (c) => {
          if (c.type === 'audio' && !cancelledAt) {
            cancelledAt = performance.now();
            client.publish(
              ttsEvents.streamCancelled,
              { streamId, reason: 'test' },
              { tokens: [streamId] },
            );
          }
        },
        { tokens: [streamId] },
      );
      try {
        const { chunks, error } = await collect(streamId, () =>
          client.request(ttsContracts.synthesize, {
            streamId,
            voice: 'parley-standin-medium',
            text: `${STANDIN_THREE} ${STANDIN_THREE}`,
            cache: false,
          }),
        );
        expect(error?.code).toBe('ABORTED');
        expect(chunks.some((c) => c.type === 'audio' && c.final)).toBe(false);
        expect(chunks[chunks.length - 1]).toMatchObject({
          type: 'error',
          error: { code: 'ABORTED' },
        });
        await new Promise((r) => setTimeout(r, 1500));
        expect(starts.length).toBeLessThan(6);
        expect(starts.filter((t) => t > cancelledAt + 50).length).toBeLessThanOrEqual(0);
      } finally {
        off();
        standin.observer.off('runstart', onStart);
      }
    });

    it('tts.voices.list answers the voice listing', async () => {
      const list = await client.request(ttsContracts.voices, {});
      expect(list.default).toBe('parley-fixture');
      expect(list.voices.map((v) => v.name)).toContain('parley-fixture-multi');
    });
  });
  // Last: it closes the stand-in voice for good.
  describe('failure mid-stream', () => {
    it('a streamed response whose engine fails mid-way is cut off without X-Parley-Complete', async () => {
      const before = await metric(url, 'parley_tts_requests_total', 'outcome="CLOSED"');
      let closing: Promise<void> | undefined;
      const r = await post(
        `${url}/v1/speech`,
        {
          text: `${STANDIN_THREE} ${STANDIN_THREE}`,
          voice: 'parley-standin-medium',
          format: 'wav',
          stream: true,
          cache: false,
        },
        () => {
          closing ??= standin.close();
        },
      );
      await closing;
      expect(r.status).toBe(200);
      expect(r.error).toBeDefined();
      expect(r.trailers['x-parley-complete']).toBeUndefined();
      await eventually(
        async () => (await metric(url, 'parley_tts_requests_total', 'outcome="CLOSED"')) > before,
      );
    });
  });
});
