import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { SttConfig } from '@parley/config';
import {
  STT_REALTIME_MAX_AUDIO_MS,
  type SttJobOptions,
  type SttResponseFormat,
  SttResponseFormat as SttResponseFormatSchema,
  type SttSegment,
  sttContracts,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { CONFIG, LOGGER, MESSAGING } from '@parley/runtime';
import { SttError } from '@parley/stt-engine';
import type { DecodedAudio } from './audio-decoder';
import { type Transcript } from './formats';
import { fromRemote } from './http-errors';
import { JobsService, checkOptions } from './jobs.service';

/** whisper.cpp server's `/inference` fields, as parsed from the multipart form. */
export interface InferenceParams {
  options: SttJobOptions;
  format: SttResponseFormat;
  /** Skip this much audio at the start, ms (`offset_t`). */
  offsetMs: number;
  /** Process only this much audio, ms (`duration`; 0 = all). */
  durationMs: number;
}

function num(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new SttError(
      'BAD_OPTIONS',
      `${name} must be a number in [${min}, ${max}], got "${String(v)}"`,
    );
  }
  return n;
}

function bool(v: unknown): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  return ['true', '1', 'yes', 'y'].includes(String(v).toLowerCase());
}

/**
 * Parses whisper.cpp server's form fields (`temperature`, `temperature_inc`, `response_format` —
 * also `response-format` as its README spells it —, `language`, `prompt`, `translate`,
 * `offset_t`, `duration`, …). Fields whisper.cpp tunes its decoder with are accepted and ignored.
 */
export function parseInferenceFields(body: Record<string, unknown>): InferenceParams {
  const formatRaw = String(body['response_format'] ?? body['response-format'] ?? 'json');
  const format = SttResponseFormatSchema.safeParse(formatRaw);
  if (!format.success) {
    throw new SttError(
      'BAD_OPTIONS',
      `response_format must be one of json, text, srt, vtt, verbose_json; got "${formatRaw}"`,
    );
  }
  const language = body['language'] === undefined ? undefined : String(body['language']);
  if (language !== undefined && !/^(auto|[A-Za-z]{2,3})$/.test(language)) {
    throw new SttError('UNSUPPORTED_LANGUAGE', `unknown language code "${language}"`);
  }
  const prompt = body['prompt'] === undefined ? undefined : String(body['prompt']);
  if (prompt !== undefined && prompt.length > 1000) {
    throw new SttError('BAD_OPTIONS', 'prompt is longer than 1000 characters');
  }
  const options = checkOptions({
    ...(language ? { language } : {}),
    ...(prompt ? { prompt } : {}),
    ...(bool(body['translate']) !== undefined ? { translate: bool(body['translate']) } : {}),
    ...(num(body['temperature'], 'temperature', 0, 1) !== undefined
      ? { temperature: num(body['temperature'], 'temperature', 0, 1) }
      : {}),
  });
  // Validated for a clear error, otherwise unused: fallback stays off on the realtime lane.
  num(body['temperature_inc'], 'temperature_inc', 0, 1);
  return {
    options,
    format: format.data,
    offsetMs: num(body['offset_t'], 'offset_t', 0, 1e9) ?? 0,
    durationMs: num(body['duration'], 'duration', 0, 1e9) ?? 0,
  };
}

/**
 * whisper.cpp server's `POST /inference`: audio up to `STT_INFERENCE_REALTIME_MAX_MS` goes to the
 * realtime lane (any ready worker, pre-empting batch work); longer audio becomes a job that this
 * request waits for. Either way the answer is rendered like whisper.cpp's.
 */
@Injectable()
export class InferenceService {
  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(CONFIG) private readonly config: SttConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async transcribe(
    decoded: DecodedAudio,
    params: InferenceParams,
  ): Promise<
    Transcript & { lane: 'realtime' | 'job'; timing?: { workerMs: number; engineMs: number } }
  > {
    const audio = clip(decoded, params.offsetMs, params.durationMs);
    const limit = Math.min(this.config.STT_INFERENCE_REALTIME_MAX_MS, STT_REALTIME_MAX_AUDIO_MS);
    if (audio.durationMs <= limit) {
      const r = await this.#realtime(audio.pcm, params);
      return {
        segments: r.segments,
        language: r.language,
        durationMs: audio.durationMs,
        translate: params.options.translate,
        temperature: params.options.temperature,
        lane: 'realtime',
        timing: { workerMs: r.timing.totalMs, engineMs: r.timing.processMs },
      };
    }
    const job = await this.jobs.submit({ decoded: audio, options: params.options });
    this.logger.info('inference() | long audio transcribed as a job', {
      jobId: job.jobId,
      durationMs: Math.round(audio.durationMs),
    });
    const done = await this.jobs.waitFor(job.jobId, this.config.STT_INFERENCE_TIMEOUT_MS);
    if (done.job.state !== 'completed' || !done.result) {
      const e = done.job.error;
      throw new SttError(
        (e?.code as 'INTERNAL') ?? 'INTERNAL',
        e?.message ?? `transcription job ${job.jobId} ended ${done.job.state}`,
      );
    }
    return {
      segments: shift(done.result.segments, params.offsetMs),
      language: done.result.language,
      durationMs: audio.durationMs,
      translate: params.options.translate,
      temperature: params.options.temperature,
      lane: 'job',
    };
  }

  async #realtime(pcm: Uint8Array, params: InferenceParams) {
    try {
      return await this.messaging.request(
        sttContracts.realtimeTranscribe,
        {
          utteranceId: `inf${randomBytes(8).toString('hex')}`,
          kind: 'final',
          startMs: params.offsetMs,
          // Raw bytes: the contract's codec sends them after a JSON header, no base64.
          audio: pcm,
          ...(params.options.language ? { language: params.options.language } : {}),
          ...(params.options.prompt ? { prompt: params.options.prompt } : {}),
          ...(params.options.temperature !== undefined
            ? { temperature: params.options.temperature }
            : {}),
          ...(params.options.translate ? { translate: true } : {}),
        },
        { timeoutMs: Math.min(this.config.STT_INFERENCE_TIMEOUT_MS, 120_000) },
      );
    } catch (err) {
      throw fromRemote(err);
    }
  }
}

/** Cuts `offsetMs`/`durationMs` out of decoded audio (whisper.cpp's `offset_t`, `duration`). */
export function clip(d: DecodedAudio, offsetMs: number, durationMs: number): DecodedAudio {
  if (offsetMs <= 0 && durationMs <= 0) return d;
  const from = Math.min(d.pcm.length, Math.round(offsetMs * 16) * 2);
  const to =
    durationMs > 0 ? Math.min(d.pcm.length, from + Math.round(durationMs * 16) * 2) : d.pcm.length;
  if (to <= from) throw new SttError('EMPTY_AUDIO', 'offset_t/duration select no audio');
  const pcm = d.pcm.subarray(from, to);
  return { ...d, pcm, durationMs: pcm.length / 32 };
}

function shift<S extends SttSegment>(segments: readonly S[], ms: number): S[] {
  if (!ms) return [...segments];
  return segments.map((s) => ({ ...s, t0: s.t0 + ms, t1: s.t1 + ms }));
}
