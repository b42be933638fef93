import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { TtsConfig } from '@parley/config';
import {
  type ErrorBody,
  type TtsAudioFormat,
  type TtsVoiceList,
  ttsEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER, MESSAGING, REDIS } from '@parley/runtime';
import {
  type OpusOptions,
  type PiperLastSynthesis,
  RedisAudioCache,
  SpeechSynthesizer,
  TtsError,
  type VoiceInfo,
  VoiceRegistry,
  ffmpegHasOpus,
  piperPhonemes,
} from '@parley/tts-engine';
import type { Redis } from 'ioredis';
import { TtsMetrics } from './tts.metrics';

/** Root of the workspace (where `.parley/` lives), found upwards from this file. */
function workspaceRoot(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        if ((JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'parley')
          return dir;
      } catch {
        // not ours; keep looking
      }
    }
  }
  return process.cwd();
}

/** The generated fixture voices (scripts/setup/piper-fixture.mjs). */
export function defaultVoicesDir(): string {
  return join(workspaceRoot(), '.parley', 'voices');
}

/** The TTS service could not start: no usable default voice. */
export class TtsStartupError extends Error {
  override readonly name = 'TtsStartupError';
}

/**
 * Owns the voices and the synthesis pipeline of this process: scans the voices directory at
 * start (a broken or missing default voice stops the start with a message saying why), loads
 * the default voice in the background (`/ready` waits for it, with the reason), wires the Redis
 * audio cache and the metrics, and closes everything on shutdown.
 */
@Injectable()
export class TtsService implements OnModuleInit, OnApplicationShutdown {
  #registry?: VoiceRegistry;
  #synth?: SpeechSynthesizer;
  #loaded = false;
  #loadError?: string;
  #opus: Promise<boolean> = Promise.resolve(false);
  #last?: PiperLastSynthesis;

  constructor(
    @Inject(CONFIG) private readonly config: TtsConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(REDIS) private readonly redis: Redis | null,
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(TtsMetrics) private readonly metrics: TtsMetrics,
  ) {
    health.register('voice', () => this.readiness());
    // Redis only holds the audio cache here: without it requests are synthesised, so the node
    // stays ready and says so (this replaces the runtime's failing `redis` check).
    if (redis) {
      health.register('redis', () =>
        redis.status === 'ready'
          ? { ok: true, reason: 'audio cache available' }
          : {
              ok: true,
              reason: `audio cache unavailable (redis ${redis.status}); synthesising without it`,
            },
      );
    }
  }

  async onModuleInit(): Promise<void> {
    const c = this.config;
    const dir = resolve(c.TTS_VOICES_DIR ?? defaultVoicesDir());
    const extra = c.PARLEY_PIPER_VOICE ? resolve(c.PARLEY_PIPER_VOICE) : undefined;
    if (!existsSync(dir) && !extra) {
      throw new TtsStartupError(
        `voices directory ${dir} does not exist (run \`node scripts/setup/piper-fixture.mjs\` for the fixture voices, or set TTS_VOICES_DIR / PARLEY_PIPER_VOICE)`,
      );
    }
    const registry = await VoiceRegistry.open({
      dirs: existsSync(dir) ? [dir] : [],
      // A real voice inside the scanned directory is already registered by the scan.
      files: extra && dirname(extra) !== dir ? [extra] : [],
      voiceOptions: {
        workers: c.TTS_WORKERS,
        maxQueue: c.TTS_MAX_QUEUE,
        maxChars: c.TTS_MAX_CHARS,
        lookahead: c.TTS_LOOKAHEAD,
      },
      logger: this.logger,
    });
    this.#registry = registry;
    const defaultVoice = this.#pickDefault(registry, extra);
    const cache =
      c.TTS_CACHE && this.redis
        ? new RedisAudioCache(this.redis, {
            prefix: 'tts:audio:',
            ttlSeconds: c.TTS_CACHE_TTL_S,
            maxBytes: c.TTS_CACHE_MAX_BYTES,
            maxEntryBytes: Math.min(c.TTS_CACHE_MAX_ENTRY_BYTES, c.TTS_CACHE_MAX_BYTES),
            timeoutMs: c.TTS_CACHE_TIMEOUT_MS,
            logger: this.logger,
          })
        : undefined;
    const synth = new SpeechSynthesizer({ registry, defaultVoice, cache, logger: this.logger });
    synth.observer.on('cache', (e) => this.metrics.cache.inc({ op: e.op, result: e.result }));
    synth.observer.on('voice', (voice) => {
      voice.observer.on('runstart', () => this.metrics.modelRuns.inc({ voice: voice.name }));
    });
    this.#synth = synth;
    this.#opus = ffmpegHasOpus(c.TTS_FFMPEG);
    void this.#opus.then((ok) => {
      if (!ok)
        this.logger.warn('onModuleInit() | ffmpeg with libopus not found: format=ogg is refused', {
          ffmpeg: c.TTS_FFMPEG,
        });
    });
    this.logger.info('onModuleInit() | voices scanned', {
      dir,
      defaultVoice,
      voices: registry.list().map((v) => v.name),
      problems: registry.problems.map((p) => `${p.name}: ${p.error.message}`),
      cache: cache ? 'redis' : 'off',
    });
    void this.#preload(defaultVoice);
  }

  #pickDefault(registry: VoiceRegistry, extra: string | undefined): string {
    const c = this.config;
    const fail = (message: string): never => {
      throw new TtsStartupError(message);
    };
    let name: string | undefined;
    if (extra) {
      name = extra.replace(/^.*[\\/]/u, '').replace(/\.onnx$/u, '');
      const problem = registry.problems.find((p) => resolve(p.modelPath) === extra);
      if (problem) fail(`PARLEY_PIPER_VOICE ${extra} is not usable: ${problem.error.message}`);
    } else if (c.TTS_DEFAULT_VOICE) {
      name = c.TTS_DEFAULT_VOICE;
    } else {
      const names = registry.list().map((v) => v.name);
      // The fixture is the designated default: a broken one is reported as such, not skipped.
      const fixture =
        names.includes('parley-fixture') ||
        registry.problems.some((p) => p.name === 'parley-fixture');
      name = fixture ? 'parley-fixture' : names[0];
      if (!name) {
        const problems = registry.problems.map((p) => `${p.name}: ${p.error.message}`);
        fail(
          `no usable voice found${problems.length ? `; problems: ${problems.join(' | ')}` : ' (the directory has no <name>.onnx + <name>.onnx.json)'}`,
        );
      }
    }
    const voice = name as string;
    if (!registry.has(voice)) {
      const problem = registry.problems.find((p) => p.name === voice);
      fail(
        problem
          ? `default voice ${voice} is not usable: ${problem.error.message}`
          : `default voice ${voice} not found (voices: ${
              registry
                .list()
                .map((v) => v.name)
                .join(', ') || 'none'
            })`,
      );
    }
    return voice;
  }

  async #preload(name: string): Promise<void> {
    const started = performance.now();
    try {
      await this.synth.voice(name);
      this.#loaded = true;
      this.logger.info('preload() | default voice loaded', {
        voice: name,
        ms: Math.round(performance.now() - started),
      });
    } catch (err) {
      this.#loadError = `default voice ${name} failed to load: ${(err as Error).message}`;
      this.logger.error('preload() | default voice failed to load', {
        voice: name,
        err: (err as Error).message,
      });
    }
  }

  /** Readiness: the default voice is loaded (or why not). */
  readiness(): { ok: boolean; reason: string } {
    const name = this.#synth?.defaultVoice ?? '(none)';
    if (this.#loaded) return { ok: true, reason: `default voice ${name} loaded` };
    return { ok: false, reason: this.#loadError ?? `loading default voice ${name}` };
  }

  /** The synthesis pipeline. */
  get synth(): SpeechSynthesizer {
    if (!this.#synth) throw new TtsError('CLOSED', 'the TTS service is not started');
    return this.#synth;
  }

  /** Listing entry of the default voice. */
  defaultVoiceInfo(): VoiceInfo {
    return this.synth.registry.info(this.synth.defaultVoice);
  }

  /** The voices as `GET /v1/voices` and `tts.voices.list` answer. */
  voiceList(): TtsVoiceList {
    const registry = this.synth.registry;
    const def = this.synth.defaultVoice;
    return {
      default: def,
      voices: registry.list().map((v) => ({
        name: v.name,
        sampleRate: v.sampleRate,
        language: v.languageCode,
        espeakVoice: v.espeakVoice,
        quality: v.quality,
        numSpeakers: v.numSpeakers,
        speakers: v.speakers,
        loaded: registry.isLoaded(v.name),
        default: v.name === def,
      })),
      problems: registry.problems.map((p) => ({
        name: p.name,
        code: p.error.code,
        message: p.error.message,
      })),
    };
  }

  /**
   * Opus options for a format; throws `UNSUPPORTED_FORMAT` for `ogg` when ffmpeg with libopus
   * is missing (checked once at start).
   */
  async encoderOptions(format: TtsAudioFormat): Promise<OpusOptions> {
    if (format === 'ogg' && !(await this.#opus)) {
      throw new TtsError(
        'UNSUPPORTED_FORMAT',
        `format "ogg" needs ffmpeg with libopus (${this.config.TTS_FFMPEG} not found or without libopus); use wav or pcm`,
      );
    }
    return { ffmpegPath: this.config.TTS_FFMPEG, bitrate: this.config.TTS_OPUS_BITRATE };
  }

  /** Records a completed synthesis for Piper's `/info`. */
  recordLast(text: string, seconds: number, phonemes: readonly string[]): void {
    this.#last = {
      text,
      synthesize_seconds: seconds,
      phonemes: phonemes.flatMap((p) => piperPhonemes(p)),
      alignments: [],
    };
  }

  /** The most recent completed synthesis. */
  get last(): PiperLastSynthesis | undefined {
    return this.#last;
  }

  /** Publishes `tts.speech.started.<roomId>`; a NATS failure is logged, never thrown. */
  announceStarted(
    roomId: string,
    e: { requestId: string; voice: string; sampleRate: number; sentences: number; text: string },
  ): void {
    try {
      this.messaging.publish(ttsEvents.speechStarted, { roomId, ...e }, { tokens: [roomId] });
    } catch (err) {
      this.logger.warn('announceStarted() | cannot publish', { err: (err as Error).message });
    }
  }

  /** Publishes `tts.speech.ended.<roomId>`; a NATS failure is logged, never thrown. */
  announceEnded(
    roomId: string,
    e: {
      requestId: string;
      voice: string;
      reason: 'done' | 'cancelled' | 'error';
      samples: number;
      sampleRate: number;
      error?: ErrorBody;
    },
  ): void {
    try {
      this.messaging.publish(
        ttsEvents.speechEnded,
        {
          roomId,
          requestId: e.requestId,
          voice: e.voice,
          reason: e.reason,
          samples: e.samples,
          durationSeconds: e.sampleRate > 0 ? e.samples / e.sampleRate : 0,
          ...(e.error ? { error: e.error } : {}),
        },
        { tokens: [roomId] },
      );
    } catch (err) {
      this.logger.warn('announceEnded() | cannot publish', { err: (err as Error).message });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.#registry?.close();
  }
}
