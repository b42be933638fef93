import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SttEngineError } from './SttEngineError';

/** A segment as the native addon reports it (times in ms from the start of the PCM passed in). */
export interface WhisperNativeSegment {
  from: number;
  to: number;
  text: string;
  /** With `format: 'detail'`: language of the transcription. */
  lang?: string;
  /** With `format: 'detail'`: mean token probability. */
  confidence?: number;
  /** With `format: 'detail'`: decoded tokens. */
  tokens?: Array<{ text: string; id: number; p: number }>;
}

/** Per-call timings the Parley build attaches to a result array (`result.timings`), ms. */
export interface WhisperNativeTimings {
  initMs: number;
  fullMs: number;
  melMs: number;
  encodeMs: number;
  decodeMs: number;
  batchdMs: number;
  promptMs: number;
  sampleMs: number;
  encodes: number;
  decodes: number;
  batchds: number;
  prompts: number;
  samples: number;
}

/** A loaded whisper context. */
export interface WhisperNativeModel {
  /** Opaque `whisper_context*`; null once freed. */
  readonly handle: object | null;
  readonly freed: boolean;
  free(): Promise<void>;
}

/**
 * The N-API surface of smart-whisper's addon as built by `scripts/setup/whisper.mjs` (which adds
 * `abort_flag`, `setLogging` and per-call `timings`, pools whisper states, and makes a failed load
 * reject instead of hang).
 */
export interface WhisperAddon {
  WhisperModel: { load(path: string, gpu: boolean): Promise<WhisperNativeModel> };
  transcribe(
    handle: object,
    pcm: Float32Array,
    params: Record<string, unknown>,
    finish: (result: (WhisperNativeSegment[] & { timings?: WhisperNativeTimings }) | Error) => void,
    progress: (segment: WhisperNativeSegment) => void,
  ): void;
  /** Present in Parley's build only. */
  setLogging?: (on: boolean) => void;
}

const loaded = new Map<string, WhisperAddon>();

/**
 * Where the setup step installs the native build: smart-whisper's own `build/Release` (its dist/
 * loader requires it from there too). Undefined if smart-whisper is not installed.
 */
export function defaultWhisperAddonPath(): string | undefined {
  try {
    const pkg = require.resolve('smart-whisper/package.json');
    return join(dirname(pkg), 'build', 'Release', 'smart-whisper.node');
  } catch {
    return undefined;
  }
}

/**
 * Loads the whisper addon from `path` (default {@link defaultWhisperAddonPath}); cached per path.
 * Throws `ENGINE_UNAVAILABLE` with the setup command when it is missing or does not load.
 */
export function loadWhisperAddon(path = defaultWhisperAddonPath()): WhisperAddon {
  const hint = 'build it with `node scripts/setup/whisper.mjs` (or `npm run bootstrap`)';
  if (!path || !existsSync(path)) {
    throw new SttEngineError(
      'ENGINE_UNAVAILABLE',
      `whisper native addon not found${path ? ` at ${path}` : ' (smart-whisper not installed)'}; ${hint}`,
    );
  }
  const cached = loaded.get(path);
  if (cached) return cached;
  const mod: { exports: unknown } = { exports: {} };
  try {
    process.dlopen(mod, path);
  } catch (err) {
    throw new SttEngineError(
      'ENGINE_UNAVAILABLE',
      `whisper native addon at ${path} does not load (${(err as Error).message}); ${hint}`,
      { cause: err },
    );
  }
  const addon = mod.exports as WhisperAddon;
  if (typeof addon.transcribe !== 'function' || typeof addon.WhisperModel?.load !== 'function') {
    throw new SttEngineError(
      'ENGINE_UNAVAILABLE',
      `${path} is not the smart-whisper addon; ${hint}`,
    );
  }
  loaded.set(path, addon);
  return addon;
}
