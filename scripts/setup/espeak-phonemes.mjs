// Setup module: builds `parley-espeak-phonemes` (libs/tts-engine/native/espeak-phonemes.c), the
// helper through which the TTS phonemises with libespeak-ng's espeak_TextToPhonemes instead of
// the espeak-ng command (which synthesises, and throws away, the audio of everything it
// phonemises: ~3 ms a sentence against ~0.1 ms). The engine builds it on first use anyway; this
// step builds it where a compiler exists (the image's build stage), so a runtime without one gets
// the fast path too. It runs the engine's own builder (EspeakHelper.ts), which caches by source
// hash in node_modules/.cache/parley-tts; a warm run only checks that the binary exists. Never
// fails the set-up: without a compiler the TTS uses the espeak-ng command, as it says in its log.
import { spawnSync } from 'node:child_process';

/** gcc comes with bootstrap's g++; libespeak-ng1 with espeak-ng. */
export const aptPackages = ['espeak-ng'];

const BUILD = `
require('./libs/tts-engine/src/lib/EspeakHelper')
  .espeakHelperBinary({ logger: { debug() {}, info() {}, warn: (m, f) => console.error(m, JSON.stringify(f)), error() {} } })
  .then((path) => { if (path) console.log(path); else process.exitCode = 1; });
`;

export async function ensure({ root, log }) {
  const r = spawnSync(process.execPath, ['-r', '@swc-node/register', '-e', BUILD], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (r.status === 0) log(`helper ${r.stdout.trim()}`);
  else
    log(
      `helper not built (the TTS will use the espeak-ng command): ${(r.stderr || r.error?.message || '').trim().slice(0, 400)}`,
    );
  return {};
}
