/**
 * Engine probe: a direct whisper.cpp call, without NATS, orchestrator or worker, on the same addon
 * and model a worker would use — the baseline the STT bench divides the full path by.
 *
 *   node -r @swc-node/register apps/stt-worker/src/probe.ts <pcm-s16le-16k-file> [threads]
 *
 * Loads the model (PARLEY_WHISPER_MODEL or the synthetic one, addon PARLEY_WHISPER_ADDON), prints
 * `{"ready":…}`, then for every line on stdin transcribes the file once at realtime priority and
 * prints `{"ms":…,"processMs":…,"segments":…,"native":{…}}` (whisper.cpp's own split of the time).
 * Exits when stdin closes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { bytesToFloat32 } from '@parley/audio';
import { WhisperEngine } from '@parley/stt-engine';

async function probe(): Promise<void> {
  const [file, threadsArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: probe.ts <pcm-s16le-16k-file> [threads]\n');
    process.exit(2);
  }
  const env = process.env;
  const model =
    env['PARLEY_WHISPER_MODEL'] ??
    env['PARLEY_WHISPER_SYNTHETIC_MODEL'] ??
    join(process.cwd(), '.parley', 'models', 'ggml-synthetic-tiny.bin');
  const engine = new WhisperEngine({ addonPath: env['PARLEY_WHISPER_ADDON'] });
  const info = await engine.load(model, { threads: Number(threadsArg ?? 1) });
  const pcm = bytesToFloat32(new Uint8Array(readFileSync(file)));
  const out = (o: unknown) => process.stdout.write(`${JSON.stringify(o)}\n`);
  out({ ready: true, model: info.name, threads: info.threads, samples: pcm.length });
  for await (const _line of createInterface({ input: process.stdin })) {
    const t0 = performance.now();
    const r = await engine.transcribe(pcm, { priority: 'realtime' });
    out({
      ms: performance.now() - t0,
      processMs: r.timing.processMs,
      segments: r.segments.length,
      ...(r.timing.native ? { native: r.timing.native } : {}),
    });
  }
  await engine.close();
}

probe().catch((err: unknown) => {
  process.stderr.write(`probe failed: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
