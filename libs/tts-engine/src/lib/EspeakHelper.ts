import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { silentTtsLogger, type TtsLogger } from './TtsLogger';

/** Options of {@link espeakHelperBinary}. */
export interface EspeakHelperOptions {
  /** Where built helpers are kept. Default `node_modules/.cache/parley-tts` of this workspace. */
  cacheDir?: string;
  /** C compiler. Default `cc`. */
  cc?: string;
  logger?: TtsLogger;
}

/** The helper's C source: libs/tts-engine/native/espeak-phonemes.c. */
export const ESPEAK_HELPER_SOURCE = join(__dirname, '..', '..', 'native', 'espeak-phonemes.c');
/** First line the helper prints once espeak-ng is initialised and the voice is set. */
export const ESPEAK_HELPER_GREETING = 'PARLEY-ESPEAK-PHONEMES 1 ';
const BINARY = 'parley-espeak-phonemes';
// The runtime library is enough: the helper declares the few functions it calls itself, so
// neither espeak-ng's headers nor its development symlink (libespeak-ng-dev) are needed.
const LINK_ATTEMPTS = [['-l:libespeak-ng.so.1'], ['-lespeak-ng']];

function defaultCacheDir(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules')))
      return join(dir, 'node_modules', '.cache', 'parley-tts');
  }
  return join(tmpdir(), 'parley-tts');
}

function run(cmd: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}`.trim() || (err?.message ?? '') }),
    );
  });
}

const builds = new Map<string, Promise<string | undefined>>();

/**
 * Path of the `parley-espeak-phonemes` helper (text → IPA through libespeak-ng's
 * `espeak_TextToPhonemes`, without synthesising audio), building it with the C compiler on first
 * use and keeping it in a cache directory keyed by the source's hash. Resolves `undefined` (and
 * logs why) when it cannot be built — no compiler, no libespeak-ng — so the caller can fall back
 * to the `espeak-ng` command. One build per process and source, however many callers ask.
 */
export function espeakHelperBinary(options: EspeakHelperOptions = {}): Promise<string | undefined> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const cc = options.cc ?? 'cc';
  const key = `${cacheDir}\0${cc}`;
  let build = builds.get(key);
  if (!build) {
    build = buildHelper(cacheDir, cc, options.logger ?? silentTtsLogger);
    builds.set(key, build);
    // A failed build is retried by a later caller (the compiler may have been installed since).
    void build.then((path) => {
      if (!path) builds.delete(key);
    });
  }
  return build;
}

async function buildHelper(
  cacheDir: string,
  cc: string,
  logger: TtsLogger,
): Promise<string | undefined> {
  let source: Buffer;
  try {
    source = await readFile(ESPEAK_HELPER_SOURCE);
  } catch (err) {
    logger.warn('espeakHelperBinary() | helper source missing, using the espeak-ng command', {
      source: ESPEAK_HELPER_SOURCE,
      error: (err as Error).message,
    });
    return undefined;
  }
  // The platform is part of the key: a node_modules copied to another machine rebuilds.
  const hash = createHash('sha256')
    .update(source)
    .update(`${process.platform}-${process.arch}`)
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir, `espeak-phonemes-${hash}`);
  const binary = join(dir, BINARY);
  try {
    await access(binary, constants.X_OK);
    return binary;
  } catch {
    // not built yet
  }
  const started = performance.now();
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    logger.warn(
      'espeakHelperBinary() | cannot create the helper cache, using the espeak-ng command',
      {
        dir,
        error: (err as Error).message,
      },
    );
    return undefined;
  }
  // Built under a unique name and renamed: processes building at once never see half a file.
  const tmp = `${binary}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const failures: string[] = [];
  for (const link of LINK_ATTEMPTS) {
    const r = await run(cc, ['-O2', '-o', tmp, ESPEAK_HELPER_SOURCE, ...link]);
    if (r.ok) {
      await rename(tmp, binary);
      logger.info('espeakHelperBinary() | built the espeak-ng phonemes helper', {
        binary,
        ms: Math.round(performance.now() - started),
      });
      return binary;
    }
    failures.push(`${link.join(' ')}: ${r.output.slice(0, 300)}`);
  }
  await rm(tmp, { force: true });
  logger.warn('espeakHelperBinary() | cannot build the helper, using the espeak-ng command', {
    cc,
    failures,
  });
  return undefined;
}
