import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { TtsConfig } from '@parley/config';
import {
  type ErrorBody,
  type TtsStreamChunk,
  type TtsSynthesizeRequest,
  type TtsSynthesizeResponse,
  ttsContracts,
  ttsEvents,
} from '@parley/contracts';
import { type NatsMessaging, toErrorBody } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { CONFIG, LOGGER, MESSAGING, ParleyError } from '@parley/runtime';
import { type SpeechStream, TtsError } from '@parley/tts-engine';
import { outcomeOf } from './tts-errors';
import { TtsMetrics } from './tts.metrics';
import { TtsService } from './tts.service';

/**
 * The TTS API over NATS. `tts.synthesize` streams numbered chunks of base64 PCM to
 * `tts.stream.chunk.<streamId>` (a sentence longer than the chunk size goes out in several
 * pieces), the last one `final`, then replies with a summary; a failure ends the stream with an
 * `error` message instead. `tts.stream.cancelled.<streamId>` (from any node) stops a stream
 * this node is synthesising.
 */
@Injectable()
export class SpeechHandlers implements OnApplicationBootstrap {
  readonly #active = new Map<string, AbortController>();

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(TtsService) private readonly tts: TtsService,
    @Inject(TtsMetrics) private readonly metrics: TtsMetrics,
    @Inject(CONFIG) private readonly config: TtsConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  // After every onModuleInit: the voices are scanned before the first request can arrive.
  onApplicationBootstrap(): void {
    this.messaging.serve(ttsContracts.synthesize, (req) => this.synthesize(req));
    this.messaging.serve(ttsContracts.voices, () => this.tts.voiceList());
    this.messaging.subscribe(
      ttsEvents.streamCancelled,
      (e) => {
        const ac = this.#active.get(e.streamId);
        if (!ac) return;
        this.logger.info('cancel() | stream cancelled by the caller', {
          streamId: e.streamId,
          reason: e.reason,
        });
        ac.abort(new TtsError('ABORTED', e.reason ?? 'cancelled by the caller'));
      },
      { tokens: ['*'] },
    );
  }

  async synthesize(req: TtsSynthesizeRequest): Promise<TtsSynthesizeResponse> {
    const started = performance.now();
    const { streamId, roomId, maxChunkBytes, ...params } = req;
    if (this.#active.has(streamId))
      throw new ParleyError('CONFLICT', `stream ${streamId} is already being synthesised`, 409);
    const ac = new AbortController();
    this.#active.set(streamId, ac);
    const chunkSamples = Math.floor((maxChunkBytes ?? this.config.TTS_NATS_CHUNK_BYTES) / 2);
    let seq = 0;
    let samples = 0;
    let stream: SpeechStream | undefined;
    let announced = false;
    const publish = (chunk: TtsStreamChunk): void =>
      this.messaging.publish(ttsEvents.streamChunk, chunk, { tokens: [streamId] });
    this.metrics.active.inc();
    try {
      stream = await this.tts.synth.speak(params, ac.signal);
      const sampleRate = stream.sampleRate;
      const phonemes: string[] = [];
      let first = true;
      for await (const chunk of stream) {
        if (first) {
          first = false;
          this.metrics.firstAudio.observe(
            { api: 'nats', cached: String(stream.cached) },
            (performance.now() - started) / 1000,
          );
          if (roomId) {
            announced = true;
            this.tts.announceStarted(roomId, {
              requestId: streamId,
              voice: stream.voice,
              sampleRate,
              sentences: stream.sentences.length,
              text: params.text,
            });
          }
        }
        phonemes.push(chunk.phonemes);
        const { pcm } = chunk;
        const parts = Math.max(1, Math.ceil(pcm.length / chunkSamples));
        for (let p = 0; p < parts; p++) {
          const part = pcm.subarray(p * chunkSamples, Math.min(pcm.length, (p + 1) * chunkSamples));
          const sentenceEnd = p === parts - 1;
          publish({
            type: 'audio',
            streamId,
            seq: seq++,
            sentence: chunk.index,
            sentenceEnd,
            sampleRate,
            pcm: Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString('base64'),
            samples: part.length,
            final: chunk.final && sentenceEnd,
          });
          samples += part.length;
        }
      }
      this.metrics.requests.inc({ api: 'nats', outcome: 'ok' });
      this.metrics.duration.observe(
        { api: 'nats', cached: String(stream.cached) },
        (performance.now() - started) / 1000,
      );
      this.metrics.audioSeconds.inc({ voice: stream.voice }, samples / sampleRate);
      this.tts.recordLast(params.text, (performance.now() - started) / 1000, phonemes);
      if (roomId) {
        this.tts.announceEnded(roomId, {
          requestId: streamId,
          voice: stream.voice,
          reason: 'done',
          samples,
          sampleRate,
        });
      }
      return {
        streamId,
        voice: stream.voice,
        sampleRate,
        chunks: seq,
        sentences: stream.sentences.length,
        samples,
        durationSeconds: samples / sampleRate,
        cached: stream.cached,
      };
    } catch (err) {
      const outcome = outcomeOf(err);
      this.metrics.requests.inc({ api: 'nats', outcome });
      const error: ErrorBody = toErrorBody(err);
      try {
        publish({ type: 'error', streamId, seq: seq++, error });
      } catch (publishErr) {
        this.logger.warn('synthesize() | cannot publish the error marker', {
          streamId,
          err: (publishErr as Error).message,
        });
      }
      if (roomId && announced && stream) {
        this.tts.announceEnded(roomId, {
          requestId: streamId,
          voice: stream.voice,
          reason: outcome === 'aborted' ? 'cancelled' : 'error',
          samples,
          sampleRate: stream.sampleRate,
          error,
        });
      }
      throw err;
    } finally {
      this.metrics.active.dec();
      this.#active.delete(streamId);
    }
  }
}
