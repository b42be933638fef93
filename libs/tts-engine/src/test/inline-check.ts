// Run by PiperVoice.int-spec.ts in a plain Node process: onnxruntime-node's inline (main
// thread) path cannot run inside Jest, whose VM realm has its own Float32Array that the native
// binding rejects ("A float32 tensor's data must be type of Float32Array"). Prints JSON.
import { PiperVoice } from '../lib/PiperVoice';
import { FIXTURE_VOICES } from './fixture-voices';

async function main(): Promise<void> {
  const text = process.argv[2] ?? 'Hello there.';
  const inline = await PiperVoice.load(FIXTURE_VOICES.single, { workers: 0 });
  const worker = await PiperVoice.load(FIXTURE_VOICES.single, { workers: 1 });
  try {
    const a = await inline.synthesize(text);
    const b = await worker.synthesize(text);
    const equal = a.pcm.length === b.pcm.length && a.pcm.every((v, i) => v === b.pcm[i]);
    process.stdout.write(
      JSON.stringify({ inlineSamples: a.pcm.length, workerSamples: b.pcm.length, equal }),
    );
  } finally {
    await inline.close();
    await worker.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(String(err instanceof Error ? err.stack : err));
  process.exit(1);
});
