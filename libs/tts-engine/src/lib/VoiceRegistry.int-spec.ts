import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FIXTURE_VOICES, ensureFixtureVoices } from '../test/fixture-voices';
import { VoiceRegistry } from './VoiceRegistry';

describe('VoiceRegistry (real files, real onnxruntime)', () => {
  let dir: string;
  let registry: VoiceRegistry;

  beforeAll(async () => {
    ensureFixtureVoices();
    dir = mkdtempSync(join(tmpdir(), 'parley-voices-'));
    for (const model of [FIXTURE_VOICES.single, FIXTURE_VOICES.multi]) {
      const name = model.replace(/^.*\//u, '');
      copyFileSync(model, join(dir, name));
      copyFileSync(`${model}.json`, join(dir, `${name}.json`));
    }
    writeFileSync(join(dir, 'broken.onnx'), 'x');
    writeFileSync(join(dir, 'broken.onnx.json'), '{"audio": {}}');
    writeFileSync(join(dir, 'orphan.onnx'), 'x');
    writeFileSync(join(dir, 'README.txt'), 'not a voice');
    registry = await VoiceRegistry.open({ dirs: [dir, join(dir, 'does-not-exist')] });
  });

  afterAll(async () => {
    await registry?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('open() lists valid voices from their configs without loading models', () => {
    expect(registry.list().map((v) => v.name)).toEqual(['parley-fixture', 'parley-fixture-multi']);
    const multi = registry.info('parley-fixture-multi');
    expect(multi).toMatchObject({
      sampleRate: 22050,
      espeakVoice: 'en-us',
      numSpeakers: 2,
      speakers: { alice: 0, bob: 1 },
    });
    expect(multi.modelBytes).toBeGreaterThan(0);
    expect(registry.isLoaded('parley-fixture')).toBe(false);
  });

  it('open() reports broken voices and missing directories as problems instead of failing', () => {
    const problems = Object.fromEntries(
      registry.problems.map((p) => [p.name.replace(/^.*\//u, ''), p.error.code]),
    );
    expect(problems).toEqual({
      broken: 'BAD_VOICE_CONFIG',
      orphan: 'BAD_VOICE_CONFIG',
      'does-not-exist': 'BAD_VOICE_CONFIG',
    });
  });

  it('get() loads a voice once, even for concurrent callers, and keeps it', async () => {
    const [a, b] = await Promise.all([
      registry.get('parley-fixture'),
      registry.get('parley-fixture'),
    ]);
    expect(a).toBe(b);
    expect(registry.isLoaded('parley-fixture')).toBe(true);
    expect(await registry.get('parley-fixture')).toBe(a);
    const { pcm } = await a.synthesize('Registry voices speak.');
    expect(pcm.length % 256).toBe(0);
  });

  it('get() rejects unknown voices with UNKNOWN_VOICE and broken ones with their own code', async () => {
    await expect(registry.get('nope')).rejects.toMatchObject({ code: 'UNKNOWN_VOICE' });
    await expect(registry.get('broken')).rejects.toMatchObject({ code: 'BAD_VOICE_CONFIG' });
  });

  it('voices of the same espeak-ng language share a phonemizer and both work', async () => {
    const multi = await registry.preload('parley-fixture-multi');
    const single = await registry.get('parley-fixture');
    const [x, y] = await Promise.all([
      multi.phonemize('Shared espeak.'),
      single.phonemize('Shared espeak.'),
    ]);
    expect(x).toEqual(y);
  });

  it('close() closes loaded voices', async () => {
    const other = await VoiceRegistry.open({ files: [FIXTURE_VOICES.single] });
    const voice = await other.get('parley-fixture');
    await other.close();
    expect(voice.closed).toBe(true);
    await expect(other.get('parley-fixture')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});
