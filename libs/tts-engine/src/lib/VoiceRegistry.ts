import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';

import { EspeakPhonemizer } from './EspeakPhonemizer';
import { PiperVoice, type PiperVoiceOptions } from './PiperVoice';
import { TtsError } from './TtsError';
import { silentTtsLogger, type TtsLogger } from './TtsLogger';
import type { VoiceInfo } from './types';
import { parseVoiceConfigText } from './VoiceConfig';

/** Options of {@link VoiceRegistry.open}. */
export interface VoiceRegistryOptions {
  /** Directories scanned (not recursively) for `<name>.onnx` + `<name>.onnx.json`. */
  dirs?: string[];
  /** Extra model files to register (e.g. `PARLEY_PIPER_VOICE`), wherever they live. */
  files?: string[];
  /** Options for every voice loaded (workers, limits, ...). Phonemizers are shared per espeak-ng voice. */
  voiceOptions?: Omit<PiperVoiceOptions, 'name' | 'configPath' | 'phonemizer' | 'logger'>;
  /** Logger. */
  logger?: TtsLogger;
}

/** A voice file that could not be registered, with the reason. */
export interface VoiceProblem {
  /** Voice name (file name without `.onnx`). */
  name: string;
  /** Model path. */
  modelPath: string;
  /** What is wrong (a `BAD_VOICE_CONFIG` / `BAD_VOICE_MODEL` message). */
  error: TtsError;
}

/**
 * The voices available to a TTS service: scanned once from directories (configs validated,
 * models not loaded), loaded on first use or by `preload`, then kept. Concurrent `get`s of a
 * voice share one load. Voices with the same espeak-ng voice share one phonemizer process.
 */
export class VoiceRegistry {
  readonly #infos = new Map<string, VoiceInfo>();
  readonly #problems: VoiceProblem[] = [];
  readonly #loaded = new Map<string, Promise<PiperVoice>>();
  readonly #ready = new Set<string>();
  readonly #phonemizers = new Map<string, Promise<EspeakPhonemizer>>();
  readonly #options: VoiceRegistryOptions;
  readonly #logger: TtsLogger;
  #closed = false;

  private constructor(options: VoiceRegistryOptions) {
    this.#options = options;
    this.#logger = options.logger ?? silentTtsLogger;
  }

  /**
   * Scans the directories and files. Never throws for a bad voice: it is left out of `list()`
   * and reported in `problems` (and by `get()` with its own error code). A directory that does
   * not exist is reported as a `BAD_VOICE_CONFIG` problem.
   */
  static async open(options: VoiceRegistryOptions): Promise<VoiceRegistry> {
    const registry = new VoiceRegistry(options);
    const models: string[] = [];
    for (const dir of options.dirs ?? []) {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch (err) {
        registry.#problems.push({
          name: dir,
          modelPath: dir,
          error: new TtsError(
            'BAD_VOICE_CONFIG',
            `cannot scan voices directory ${dir}: ${(err as Error).message}`,
          ),
        });
        continue;
      }
      for (const entry of entries.sort())
        if (entry.endsWith('.onnx')) models.push(resolvePath(join(dir, entry)));
    }
    for (const file of options.files ?? []) models.push(resolvePath(file));
    for (const modelPath of models) await registry.#register(modelPath);
    registry.#logger.info('VoiceRegistry.open() | voices scanned', {
      voices: [...registry.#infos.keys()],
      problems: registry.#problems.map((p) => `${p.name}: ${p.error.message}`),
    });
    return registry;
  }

  /** Valid voices, sorted by name. */
  list(): VoiceInfo[] {
    return [...this.#infos.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Voice files that were found but could not be registered. */
  get problems(): readonly VoiceProblem[] {
    return this.#problems;
  }

  /** Whether a valid voice of that name exists. */
  has(name: string): boolean {
    return this.#infos.has(name);
  }

  /** The listing entry of a voice. Throws `UNKNOWN_VOICE` (or the voice's own problem). */
  info(name: string): VoiceInfo {
    const info = this.#infos.get(name);
    if (info) return info;
    const problem = this.#problems.find((p) => p.name === name);
    if (problem) throw problem.error;
    throw new TtsError(
      'UNKNOWN_VOICE',
      `no voice named "${name}" (available: ${[...this.#infos.keys()].join(', ') || 'none'})`,
      {
        details: { voice: name },
      },
    );
  }

  /** Whether the voice's model is loaded and ready. */
  isLoaded(name: string): boolean {
    return this.#ready.has(name);
  }

  /**
   * The loaded voice, loading it on first use. A failed load is not cached, so a later call
   * retries (the file may have been fixed).
   */
  async get(name: string): Promise<PiperVoice> {
    if (this.#closed) throw new TtsError('CLOSED', 'voice registry closed');
    const info = this.info(name);
    let pending = this.#loaded.get(name);
    if (!pending) {
      pending = this.#load(info);
      this.#loaded.set(name, pending);
      pending.then(
        () => this.#ready.add(name),
        () => this.#loaded.delete(name),
      );
    }
    return pending;
  }

  /** Loads a voice now (e.g. the default voice, before reporting ready). */
  async preload(name: string): Promise<PiperVoice> {
    return this.get(name);
  }

  /** Closes every loaded voice and phonemizer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const voices = await Promise.allSettled(this.#loaded.values());
    await Promise.all(voices.map((v) => (v.status === 'fulfilled' ? v.value.close() : undefined)));
    const phonemizers = await Promise.allSettled(this.#phonemizers.values());
    for (const p of phonemizers) if (p.status === 'fulfilled') p.value.close();
    this.#loaded.clear();
    this.#ready.clear();
  }

  async #register(modelPath: string): Promise<void> {
    const name = modelPath.replace(/^.*[\\/]/u, '').replace(/\.onnx$/u, '');
    const configPath = `${modelPath}.json`;
    try {
      if (this.#infos.has(name)) {
        throw new TtsError(
          'BAD_VOICE_CONFIG',
          `duplicate voice name "${name}" (${modelPath} and ${this.#infos.get(name)?.modelPath})`,
        );
      }
      const modelStat = await stat(modelPath).catch((err: Error) => {
        throw new TtsError(
          'BAD_VOICE_MODEL',
          `model file ${modelPath} is not readable: ${err.message}`,
        );
      });
      const text = await readFile(configPath, 'utf8').catch((err: Error) => {
        throw new TtsError(
          'BAD_VOICE_CONFIG',
          `voice ${name} has no readable config ${configPath}: ${err.message}`,
        );
      });
      const config = parseVoiceConfigText(text, configPath);
      this.#infos.set(name, {
        name,
        modelPath,
        configPath,
        sampleRate: config.sampleRate,
        espeakVoice: config.espeakVoice,
        languageCode: config.languageCode,
        quality: config.quality,
        numSpeakers: config.numSpeakers,
        speakers: Object.fromEntries(config.speakerIdMap),
        modelBytes: modelStat.size,
      });
    } catch (err) {
      const error =
        err instanceof TtsError
          ? err
          : new TtsError('BAD_VOICE_CONFIG', String(err), { cause: err });
      this.#logger.warn('VoiceRegistry.open() | voice skipped', {
        voice: name,
        error: error.message,
      });
      this.#problems.push({ name, modelPath, error });
    }
  }

  async #phonemizer(voice: string): Promise<EspeakPhonemizer> {
    let p = this.#phonemizers.get(voice);
    if (!p) {
      p = EspeakPhonemizer.create({
        ...this.#options.voiceOptions?.espeak,
        voice,
        logger: this.#logger,
      });
      this.#phonemizers.set(voice, p);
      p.catch(() => this.#phonemizers.delete(voice));
    }
    return p;
  }

  async #load(info: VoiceInfo): Promise<PiperVoice> {
    const started = performance.now();
    const phonemizer = await this.#phonemizer(info.espeakVoice);
    const voice = await PiperVoice.load(info.modelPath, {
      ...this.#options.voiceOptions,
      name: info.name,
      configPath: info.configPath,
      phonemizer,
      logger: this.#logger,
    });
    if (this.#closed) {
      await voice.close();
      throw new TtsError('CLOSED', 'voice registry closed');
    }
    this.#logger.info('VoiceRegistry.get() | voice loaded', {
      voice: info.name,
      ms: Math.round(performance.now() - started),
    });
    return voice;
  }
}
