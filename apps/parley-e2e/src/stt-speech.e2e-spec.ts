import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type PrivateServer,
  type ServiceProcess,
  WORKSPACE_ROOT,
  freePort,
  spawnService,
  startNatsServer,
  waitForHttp,
} from '@parley/testing';

// Words, not just plumbing: only with real Whisper weights (PARLEY_WHISPER_MODEL), which cannot
// be downloaded on the CI machines; without them this is reported as skipped.

const MODEL = process.env['PARLEY_WHISPER_MODEL'];
const SENTENCE = 'The quick brown fox jumps over the lazy dog.';
const maybe = MODEL ? it : it.skip;

describe(`STT with real Whisper weights${MODEL ? ` (${MODEL})` : ''}`, () => {
  let nats: PrivateServer | undefined;
  const procs: ServiceProcess[] = [];
  let stt = '';
  let dir = '';

  beforeAll(async () => {
    if (!MODEL) return;
    dir = mkdtempSync(join(tmpdir(), 'parley-stt-speech-'));
    const setup = JSON.parse(
      (() => {
        const out = execFileSync(
          process.execPath,
          [join(WORKSPACE_ROOT, 'scripts', 'setup', 'whisper.mjs')],
          { cwd: WORKSPACE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
        );
        return out.slice(out.lastIndexOf('\n{') + 1);
      })(),
    ) as Record<string, string>;
    nats = await startNatsServer();
    const sttPort = await freePort();
    stt = `http://127.0.0.1:${sttPort}`;
    procs.push(spawnService('stt', { NATS_URL: nats.url, STT_HTTP_PORT: String(sttPort) }));
    procs.push(
      spawnService('stt-worker', {
        NATS_URL: nats.url,
        STT_WORKER_HTTP_PORT: String(await freePort()),
        PARLEY_WHISPER_MODEL: MODEL,
        PARLEY_WHISPER_ADDON: setup['PARLEY_WHISPER_ADDON'] ?? '',
      }),
    );
    await waitForHttp(`${stt}/health`, 200, 120_000);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nats?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  maybe(
    MODEL
      ? 'transcribes espeak-ng speech into the spoken words through POST /inference'
      : 'transcribes espeak-ng speech into the spoken words (skipped: set PARLEY_WHISPER_MODEL to real ggml weights)',
    async () => {
      const wav = join(dir, 'fox.wav');
      execFileSync('espeak-ng', ['-w', wav, SENTENCE]);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(readFileSync(wav))]), 'fox.wav');
      form.append('response_format', 'json');
      const res = await fetch(`${stt}/inference`, { method: 'POST', body: form });
      expect(res.status).toBe(200);
      const text = ((await res.json()) as { text: string }).text.toLowerCase();
      for (const word of ['quick', 'brown', 'fox', 'lazy', 'dog']) expect(text).toContain(word);
    },
    120_000,
  );
});
