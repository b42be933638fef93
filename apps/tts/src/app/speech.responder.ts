import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { TtsAudioFormat } from '@parley/contracts';
import { toErrorBody } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { LOGGER } from '@parley/runtime';
import {
  type SpeechChunk,
  type SpeechStream,
  TtsError,
  audioContentType,
  encodeAudio,
  encodeAudioStream,
} from '@parley/tts-engine';
import type { Response } from 'express';
import { outcomeOf, ttsHttpError } from './tts-errors';
import { type TtsApi, TtsMetrics } from './tts.metrics';
import { TtsService } from './tts.service';

/** How a speech stream is sent. */
export interface SendOptions {
  api: TtsApi;
  format: TtsAudioFormat;
  /** Chunked, one piece per sentence; otherwise one body with Content-Length. */
  streaming: boolean;
  /** `performance.now()` when the request arrived. */
  started: number;
  /** The request's text (for Piper's `/info`). */
  text: string;
  /** Announce on `tts.speech.started/ended.<roomId>`. */
  roomId?: string;
}

/**
 * An AbortController that fires when the client goes away before the response is finished:
 * the synthesis behind the response stops (no further model run starts).
 */
export function abortOnClose(res: Response): AbortController {
  const ac = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) ac.abort(new TtsError('ABORTED', 'client disconnected'));
  });
  return ac;
}

async function write(res: Response, bytes: Uint8Array, signal: AbortSignal): Promise<void> {
  if (res.destroyed) throw new TtsError('ABORTED', 'client disconnected');
  if (!res.write(bytes)) {
    try {
      await once(res, 'drain', { signal });
    } catch {
      throw new TtsError('ABORTED', 'client disconnected');
    }
  }
}

/**
 * Sends speech over HTTP. Errors before the first audio become a `{code,message}` response
 * (thrown for the runtime's filter). A streamed response that fails mid-way is cut off (the
 * connection is destroyed, so the chunked encoding never terminates properly) and lacks the
 * `X-Parley-Complete: true` trailer: partial audio never looks complete.
 */
@Injectable()
export class SpeechResponder {
  constructor(
    @Inject(TtsService) private readonly tts: TtsService,
    @Inject(TtsMetrics) private readonly metrics: TtsMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Counts a request refused before it had a stream (bad input, unknown voice, ...). */
  refused(api: TtsApi, err: unknown): unknown {
    this.metrics.requests.inc({ api, outcome: outcomeOf(err) });
    return ttsHttpError(err);
  }

  async send(
    res: Response,
    stream: SpeechStream,
    signal: AbortSignal,
    opts: SendOptions,
  ): Promise<void> {
    const { api } = opts;
    const cached = String(stream.cached);
    const requestId = randomUUID();
    const phonemes: string[] = [];
    let samples = 0;
    let announced = false;
    this.metrics.active.inc();
    const fail = (err: unknown): void => {
      const outcome = outcomeOf(err);
      this.metrics.requests.inc({ api, outcome });
      if (announced && opts.roomId) {
        this.tts.announceEnded(opts.roomId, {
          requestId,
          voice: stream.voice,
          reason: outcome === 'aborted' ? 'cancelled' : 'error',
          samples,
          sampleRate: stream.sampleRate,
          error: toErrorBody(err),
        });
      }
      this.logger.log(outcome === 'aborted' ? 'info' : 'warn', 'send() | speech stopped', {
        api,
        outcome,
        voice: stream.voice,
        samples,
        sentences: stream.sentences.length,
        err: (err as Error)?.message,
      });
    };
    try {
      const chunks = stream[Symbol.asyncIterator]();
      let first: IteratorResult<SpeechChunk>;
      try {
        first = await chunks.next();
      } catch (err) {
        fail(err);
        throw ttsHttpError(err);
      }
      const firstMs = performance.now() - opts.started;
      this.metrics.firstAudio.observe({ api, cached }, firstMs / 1000);
      if (opts.roomId) {
        announced = true;
        this.tts.announceStarted(opts.roomId, {
          requestId,
          voice: stream.voice,
          sampleRate: stream.sampleRate,
          sentences: stream.sentences.length,
          text: opts.text,
        });
      }
      const opus = await this.tts.encoderOptions(opts.format);
      let final = false;
      const timings: Array<{ inferenceMs: number; readyAt?: number }> = [];
      const pcm = async function* (): AsyncGenerator<Int16Array> {
        let r = first;
        while (!r.done) {
          phonemes.push(r.value.phonemes);
          samples += r.value.pcm.length;
          final = r.value.final;
          if (r !== first)
            timings.push({ inferenceMs: r.value.inferenceMs, readyAt: r.value.timing?.readyAt });
          yield r.value.pcm;
          r = await chunks.next();
        }
      };
      res.setHeader('Content-Type', audioContentType(opts.format, stream.sampleRate));
      res.setHeader('X-Parley-Voice', stream.voice);
      res.setHeader('X-Parley-Cache', stream.cached ? 'hit' : 'miss');
      res.setHeader('X-Parley-Sample-Rate', String(stream.sampleRate));
      res.setHeader('X-Parley-Sentences', String(stream.sentences.length));
      if (opts.streaming && !first.done) {
        // Where the time to first audio went, from the request's arrival: phonemes ready, model
        // run started, its result back, PCM ready (first-audio); first-run is the run itself.
        const t = first.value.timing;
        const since = (at: number): string => (at - opts.started).toFixed(1);
        res.setHeader(
          'Server-Timing',
          (t
            ? `first-phonemes;dur=${since(t.phonemizedAt)}, first-start;dur=${since(t.runStartedAt)}, first-result;dur=${since(t.runEndedAt)}, `
            : '') +
            `first-run;dur=${first.value.inferenceMs.toFixed(1)}, first-audio;dur=${firstMs.toFixed(1)}`,
        );
      }
      if (!opts.streaming) {
        const parts: Int16Array[] = [];
        let runs = first.done ? 0 : first.value.inferenceMs;
        let lastReady = first.done ? undefined : first.value.timing?.readyAt;
        try {
          for await (const p of pcm()) parts.push(p);
        } catch (err) {
          fail(err);
          throw ttsHttpError(err);
        }
        // pcm() walked the chunks after the first through `chunks`; their timing is in `timings`.
        for (const t of timings) {
          runs += t.inferenceMs;
          lastReady = t.readyAt ?? lastReady;
        }
        const all = new Int16Array(samples);
        let offset = 0;
        for (const p of parts) {
          all.set(p, offset);
          offset += p.length;
        }
        let body: Uint8Array;
        try {
          body = await encodeAudio(opts.format, all, stream.sampleRate, opus);
        } catch (err) {
          fail(err);
          throw ttsHttpError(err);
        }
        // Where a whole response's time went: all model runs, the last PCM ready, encoded.
        res.setHeader(
          'Server-Timing',
          `runs;dur=${runs.toFixed(1)}, ` +
            (lastReady !== undefined
              ? `last-ready;dur=${(lastReady - opts.started).toFixed(1)}, `
              : '') +
            `encoded;dur=${(performance.now() - opts.started).toFixed(1)}`,
        );
        res.setHeader('Content-Length', String(body.byteLength));
        res.setHeader('X-Parley-Duration-Seconds', String(samples / stream.sampleRate));
        res.end(body);
      } else {
        res.setHeader('Trailer', 'X-Parley-Complete');
        res.setHeader('Cache-Control', 'no-store');
        res.status(200);
        try {
          for await (const bytes of encodeAudioStream(
            opts.format,
            stream.sampleRate,
            pcm(),
            opus,
          )) {
            await write(res, bytes, signal);
          }
          if (!final)
            throw new TtsError('ENGINE_FAILED', 'the stream ended without its final sentence');
        } catch (err) {
          fail(err);
          // Headers are out: the only honest signal left is to cut the connection.
          res.destroy();
          return;
        }
        res.addTrailers({ 'X-Parley-Complete': 'true' });
        res.end();
      }
      this.metrics.requests.inc({ api, outcome: 'ok' });
      this.metrics.duration.observe({ api, cached }, (performance.now() - opts.started) / 1000);
      this.metrics.audioSeconds.inc({ voice: stream.voice }, samples / stream.sampleRate);
      this.tts.recordLast(opts.text, (performance.now() - opts.started) / 1000, phonemes);
      if (announced && opts.roomId) {
        this.tts.announceEnded(opts.roomId, {
          requestId,
          voice: stream.voice,
          reason: 'done',
          samples,
          sampleRate: stream.sampleRate,
        });
      }
    } finally {
      this.metrics.active.dec();
    }
  }
}
