import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  FIXTURE,
  FIXTURE_VOICES,
  REPO_ROOT,
  ensureFixtureVoices,
  expectedFixtureAudio,
  maxPcmError,
} from '../test/fixture-voices';
import { PiperVoice } from './PiperVoice';
import { TtsError } from './TtsError';
import type { AudioChunk } from './types';

const K = FIXTURE.SAMPLES_PER_ID;
const THREE_SENTENCES =
  'Hello there, friend. This is the second sentence! And here is a third one?';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err instanceof TtsError ? err.code : `not a TtsError: ${String(err)}`;
  }
  return 'no error';
}

describe('PiperVoice on the fixture voice (real onnxruntime, real espeak-ng)', () => {
  let voice: PiperVoice;
  let multi: PiperVoice;

  beforeAll(async () => {
    ensureFixtureVoices();
    voice = await PiperVoice.load(FIXTURE_VOICES.single, { workers: 1 });
    multi = await PiperVoice.load(FIXTURE_VOICES.multi, { workers: 1 });
  });

  afterAll(async () => {
    await voice?.close();
    await multi?.close();
  });

  it('load() reads the Piper config: sample rate, espeak voice, inference defaults', () => {
    expect(voice.name).toBe('parley-fixture');
    expect(voice.sampleRate).toBe(22050);
    expect(voice.config.espeakVoice).toBe('en-us');
    expect(voice.config.inference).toEqual({ noiseScale: 0.667, lengthScale: 1, noiseW: 0.8 });
    expect(voice.config.phonemeIdMap.get('ˈ')).toEqual([120]);
  });

  it('synthesizeIds() gives exactly 256 samples per phoneme id with the tone of each id', async () => {
    const ids = [1, 0, 20, 0, 59, 0, 2];
    const pcm = await voice.synthesizeIds(ids, { normalize: false });
    expect(pcm.length).toBe(ids.length * K);
    expect(maxPcmError(pcm, expectedFixtureAudio(ids))).toBeLessThanOrEqual(1);
  });

  it('lengthScale 0.5 halves and 2 doubles the duration, sample for sample', async () => {
    const ids = [1, 0, 31, 0, 32, 0, 2];
    const normal = await voice.synthesizeIds(ids);
    const fast = await voice.synthesizeIds(ids, { lengthScale: 0.5 });
    const slow = await voice.synthesizeIds(ids, { lengthScale: 2 });
    expect(normal.length).toBe(ids.length * K);
    expect(fast.length).toBe(normal.length / 2);
    expect(slow.length).toBe(normal.length * 2);
    expect(
      maxPcmError(
        await voice.synthesizeIds(ids, { lengthScale: 2, normalize: false }),
        expectedFixtureAudio(ids, { lengthScale: 2 }),
      ),
    ).toBeLessThanOrEqual(1);
  });

  it('noiseScale and noiseW reach the model in Piper’s scales order', async () => {
    const ids = [1, 0, 2];
    const a = await voice.synthesizeIds(ids, { normalize: false, noiseScale: 0, noiseW: 0 });
    const b = await voice.synthesizeIds(ids, { normalize: false, noiseScale: 1, noiseW: 0.5 });
    expect(
      maxPcmError(a, expectedFixtureAudio(ids, { noiseScale: 0, noiseW: 0 })),
    ).toBeLessThanOrEqual(1);
    expect(
      maxPcmError(b, expectedFixtureAudio(ids, { noiseScale: 1, noiseW: 0.5 })),
    ).toBeLessThanOrEqual(1);
  });

  it('synthesize() phonemises with espeak-ng, puts punctuation back and feeds Piper ids', async () => {
    const [sentence] = await voice.phonemize('Hello, world.');
    expect(sentence.phonemes).toBe('həlˈoʊ, wˈɜːld.');
    expect(sentence.ids).toEqual([
      1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 27, 0, 100, 0, 8, 0, 3, 0, 35, 0, 120, 0, 62, 0, 122, 0,
      24, 0, 17, 0, 10, 0, 2,
    ]);
    const result = await voice.synthesize('Hello, world.', { normalize: false });
    expect(result.pcm.length).toBe(sentence.ids.length * K);
    expect(maxPcmError(result.pcm, expectedFixtureAudio(sentence.ids))).toBeLessThanOrEqual(1);
    expect(result.durationSeconds).toBeCloseTo((sentence.ids.length * K) / 22050, 9);
  });

  it('normalises each sentence to full scale by default, as Piper does', async () => {
    const { pcm } = await voice.synthesize('Hello.');
    let peak = 0;
    for (const s of pcm) peak = Math.max(peak, Math.abs(s));
    expect(peak).toBeGreaterThan(32000);
  });

  it('synthesizeStream() yields one chunk per sentence, in order, final only on the last', async () => {
    const stream = voice.synthesizeStream(THREE_SENTENCES);
    expect(stream.sentences).toEqual([
      'Hello there, friend.',
      'This is the second sentence!',
      'And here is a third one?',
    ]);
    const chunks: AudioChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.map((c) => [c.index, c.text, c.final])).toEqual([
      [0, 'Hello there, friend.', false],
      [1, 'This is the second sentence!', false],
      [2, 'And here is a third one?', true],
    ]);
    for (const c of chunks) {
      expect(c.sampleRate).toBe(22050);
      expect(c.pcm.length).toBe(c.phonemeIdCount * K);
      expect(c.phonemes.endsWith(['.', '!', '?'][c.index])).toBe(true);
    }
    const whole = await voice.synthesize(THREE_SENTENCES);
    expect(whole.pcm.length).toBe(chunks.reduce((n, c) => n + c.pcm.length, 0));
  });

  it('synthesizeStream() delivers the first chunk before synthesis of the last sentence begins', async () => {
    // Three sessions could run all three sentences at once; the stream must still hand out the
    // first sentence as soon as it is ready and keep only `lookahead` (1) sentence ahead, even
    // while the consumer is busy (here: "playing" the first chunk for 100 ms).
    const parallel = await PiperVoice.load(FIXTURE_VOICES.single, { workers: 3 });
    try {
      for (const v of [voice, parallel]) {
        const started: number[] = [];
        const onStart = (e: { requestId: number; index: number }): void => {
          if (e.requestId === stream.requestId) started.push(e.index);
        };
        v.observer.on('runstart', onStart);
        const stream = v.synthesizeStream(THREE_SENTENCES);
        let startedWhenFirstArrived: number[] = [];
        let startedAfterPlayingFirst: number[] = [];
        for await (const chunk of stream) {
          if (chunk.index === 0) {
            startedWhenFirstArrived = [...started];
            await new Promise((r) => setTimeout(r, 100));
            startedAfterPlayingFirst = [...started];
          }
        }
        v.observer.off('runstart', onStart);
        expect(startedWhenFirstArrived).not.toContain(2);
        expect(startedAfterPlayingFirst).toEqual([0, 1]);
        expect(started).toEqual([0, 1, 2]);
      }
    } finally {
      await parallel.close();
    }
  });

  it('aborting a stream stops synthesis: no model run starts after the abort', async () => {
    const text = Array.from({ length: 8 }, (_, i) => `This is sentence number ${i + 1}.`).join(' ');
    const starts: Array<{ index: number; at: number }> = [];
    const onStart = (e: { requestId: number; index: number }): void => {
      if (e.requestId === stream.requestId) starts.push({ index: e.index, at: performance.now() });
    };
    voice.observer.on('runstart', onStart);
    const ac = new AbortController();
    const stream = voice.synthesizeStream(text, {}, ac.signal);
    const received: number[] = [];
    let abortedAt = 0;
    const code = await codeOf(async () => {
      for await (const chunk of stream) {
        received.push(chunk.index);
        if (chunk.index === 0) {
          ac.abort();
          abortedAt = performance.now();
        }
      }
    });
    await new Promise((r) => setTimeout(r, 200));
    voice.observer.off('runstart', onStart);
    expect(code).toBe('ABORTED');
    expect(received).toEqual([0]);
    expect(starts.every((s) => s.at <= abortedAt)).toBe(true);
    expect(starts.length).toBeLessThanOrEqual(2);
  });

  it('a stream whose signal is already aborted runs nothing', async () => {
    let runs = 0;
    const count = (): void => {
      runs += 1;
    };
    voice.observer.on('runstart', count);
    const code = await codeOf(async () => {
      for await (const _ of voice.synthesizeStream(THREE_SENTENCES, {}, AbortSignal.abort()))
        void _;
    });
    voice.observer.off('runstart', count);
    expect(code).toBe('ABORTED');
    expect(runs).toBe(0);
  });

  it('leaving the loop early cancels the sentences already queued ahead', async () => {
    const eager = await PiperVoice.load(FIXTURE_VOICES.single, { workers: 1, lookahead: 4 });
    try {
      let runs = 0;
      eager.observer.on('runstart', () => {
        runs += 1;
      });
      const text = Array.from({ length: 8 }, (_, i) => `This is sentence number ${i + 1}.`).join(
        ' ',
      );
      for await (const chunk of eager.synthesizeStream(text)) {
        if (chunk.index === 0) break;
      }
      await new Promise((r) => setTimeout(r, 200));
      // Sentence 1 may already be running when the loop is left; 2..4 were queued and must not run.
      expect(runs).toBeLessThanOrEqual(2);
    } finally {
      await eager.close();
    }
  });

  it('selects speakers of a multi-speaker voice by name or id', async () => {
    const ids = [1, 0, 20, 0, 2];
    expect(multi.config.numSpeakers).toBe(2);
    const byDefault = await multi.synthesizeIds(ids, { normalize: false });
    const alice = await multi.synthesizeIds(ids, { normalize: false, speaker: 'alice' });
    const bob = await multi.synthesizeIds(ids, { normalize: false, speaker: 'bob' });
    const one = await multi.synthesizeIds(ids, { normalize: false, speaker: 1 });
    expect(maxPcmError(byDefault, expectedFixtureAudio(ids, { sid: 0 }))).toBeLessThanOrEqual(1);
    expect(maxPcmError(alice, expectedFixtureAudio(ids, { sid: 0 }))).toBeLessThanOrEqual(1);
    expect(maxPcmError(bob, expectedFixtureAudio(ids, { sid: 1 }))).toBeLessThanOrEqual(1);
    expect(Array.from(one)).toEqual(Array.from(bob));
    const text = await multi.synthesize('Hi.', { speaker: 'bob', normalize: false });
    const [{ ids: textIds }] = await multi.phonemize('Hi.');
    expect(maxPcmError(text.pcm, expectedFixtureAudio(textIds, { sid: 1 }))).toBeLessThanOrEqual(1);
  });

  it('rejects unknown speakers with UNKNOWN_SPEAKER', async () => {
    expect(await codeOf(() => multi.synthesizeStream('Hi.', { speaker: 'carol' }))).toBe(
      'UNKNOWN_SPEAKER',
    );
    expect(await codeOf(() => multi.synthesizeIds([1, 0, 2], { speaker: 2 }))).toBe(
      'UNKNOWN_SPEAKER',
    );
    expect(await codeOf(() => multi.synthesizeIds([1, 0, 2], { speaker: -1 }))).toBe(
      'UNKNOWN_SPEAKER',
    );
    expect(await codeOf(() => voice.synthesizeStream('Hi.', { speaker: 1 }))).toBe(
      'UNKNOWN_SPEAKER',
    );
    expect(await codeOf(() => voice.synthesizeIds([1, 0, 2], { speaker: 0 }))).toBe('no error');
  });

  it('rejects bad input with TtsError codes before any audio', async () => {
    expect(await codeOf(() => voice.synthesizeStream(''))).toBe('EMPTY_TEXT');
    expect(await codeOf(() => voice.synthesizeStream('  \n\t '))).toBe('EMPTY_TEXT');
    expect(await codeOf(() => voice.synthesizeStream('a'.repeat(5001)))).toBe('TEXT_TOO_LONG');
    expect(await codeOf(() => voice.synthesizeStream('Hello 😀 there.'))).toBe('UNSPEAKABLE_TEXT');
    expect(await codeOf(() => voice.synthesizeStream('Hello Привет.'))).toBe('UNSPEAKABLE_TEXT');
    expect(await codeOf(() => voice.synthesizeStream('😀😀', { unspeakable: 'drop' }))).toBe(
      'UNSPEAKABLE_TEXT',
    );
    expect(await codeOf(() => voice.synthesizeStream('Hi.', { lengthScale: 0 }))).toBe(
      'INVALID_OPTION',
    );
    expect(await codeOf(() => voice.synthesizeStream('Hi.', { noiseScale: Number.NaN }))).toBe(
      'INVALID_OPTION',
    );
    expect(await codeOf(() => voice.synthesizeIds([]))).toBe('EMPTY_TEXT');
  });

  it('drops unspeakable characters under the drop policy and says so in the result', async () => {
    const result = await voice.synthesize('Hello 😀 there. Bye 👋!', { unspeakable: 'drop' });
    expect(result.dropped.map((d) => d.codePoint)).toEqual(['U+1F600', 'U+1F44B']);
    expect(result.sentences.map((s) => s.text)).toEqual(['Hello there.', 'Bye !']);
    const clean = await voice.synthesize('Hello there. Bye!');
    expect(result.pcm.length).toBe(clean.pcm.length);
  });

  it('appends sentence silence between sentences only', async () => {
    const plain = await voice.synthesize('One. Two.');
    const spaced = await voice.synthesize('One. Two.', { sentenceSilenceSeconds: 0.1 });
    expect(spaced.pcm.length - plain.pcm.length).toBe(2205);
  });

  it('bounds concurrency: with one session, runs of concurrent requests never overlap', async () => {
    let active = 0;
    let maxActive = 0;
    const onStart = (): void => {
      active += 1;
      maxActive = Math.max(maxActive, active);
    };
    const onEnd = (): void => {
      active -= 1;
    };
    voice.observer.on('runstart', onStart);
    voice.observer.on('runend', onEnd);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => voice.synthesize(THREE_SENTENCES)),
    );
    voice.observer.off('runstart', onStart);
    voice.observer.off('runend', onEnd);
    expect(maxActive).toBe(1);
    for (const r of results) expect(Array.from(r.pcm)).toEqual(Array.from(results[0].pcm));
  });

  it('runs inline (workers: 0) with the same output as the worker path', () => {
    // In a child process: Jest's VM realm breaks onnxruntime-node's main-thread path.
    const out = execFileSync(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        join(REPO_ROOT, 'libs/tts-engine/src/test/inline-check.ts'),
        THREE_SENTENCES,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    const result = JSON.parse(out) as {
      inlineSamples: number;
      workerSamples: number;
      equal: boolean;
    };
    expect(result.inlineSamples).toBeGreaterThan(0);
    expect(result.inlineSamples).toBe(result.workerSamples);
    expect(result.equal).toBe(true);
  });

  it('close() makes later calls fail with CLOSED', async () => {
    const other = await PiperVoice.load(FIXTURE_VOICES.single);
    await other.close();
    await other.close();
    expect(await codeOf(() => other.synthesizeStream('Hi.'))).toBe('CLOSED');
    expect(await codeOf(other.synthesizeIds([1, 0, 2]))).toBe('CLOSED');
  });
});

describe('PiperVoice.load() with broken voices', () => {
  let dir: string;

  beforeAll(() => {
    ensureFixtureVoices();
    dir = mkdtempSync(join(tmpdir(), 'parley-tts-bad-'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('rejects a missing or malformed config with BAD_VOICE_CONFIG', async () => {
    const model = join(dir, 'noconfig.onnx');
    copyFileSync(FIXTURE_VOICES.single, model);
    expect(await codeOf(PiperVoice.load(model))).toBe('BAD_VOICE_CONFIG');
    writeFileSync(`${model}.json`, '{ not json');
    expect(await codeOf(PiperVoice.load(model))).toBe('BAD_VOICE_CONFIG');
    writeFileSync(`${model}.json`, JSON.stringify({ audio: { sample_rate: 22050 } }));
    expect(await codeOf(PiperVoice.load(model))).toBe('BAD_VOICE_CONFIG');
  });

  it('rejects an espeak-ng voice espeak-ng does not have with BAD_VOICE_CONFIG', async () => {
    const model = join(dir, 'novoice.onnx');
    copyFileSync(FIXTURE_VOICES.single, model);
    const config = JSON.parse(
      (await import('node:fs')).readFileSync(`${FIXTURE_VOICES.single}.json`, 'utf8'),
    ) as Record<string, unknown>;
    writeFileSync(
      `${model}.json`,
      JSON.stringify({ ...config, espeak: { voice: 'zz-nonexistent' } }),
    );
    expect(await codeOf(PiperVoice.load(model))).toBe('BAD_VOICE_CONFIG');
  });

  it('rejects a model that is not ONNX, or not a Piper model, with BAD_VOICE_MODEL', async () => {
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, 'this is not an onnx file');
    copyFileSync(`${FIXTURE_VOICES.single}.json`, `${garbage}.json`);
    for (const workers of [0, 1])
      expect(await codeOf(PiperVoice.load(garbage, { workers }))).toBe('BAD_VOICE_MODEL');
    const missing = join(dir, 'missing.onnx');
    copyFileSync(`${FIXTURE_VOICES.single}.json`, `${missing}.json`);
    expect(await codeOf(PiperVoice.load(missing))).toBe('BAD_VOICE_MODEL');
    // A multi-speaker config on a model without a `sid` input.
    const mismatch = join(dir, 'mismatch.onnx');
    copyFileSync(FIXTURE_VOICES.single, mismatch);
    copyFileSync(`${FIXTURE_VOICES.multi}.json`, `${mismatch}.json`);
    expect(await codeOf(PiperVoice.load(mismatch))).toBe('BAD_VOICE_MODEL');
  });
});
