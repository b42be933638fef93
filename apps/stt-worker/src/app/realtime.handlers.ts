import { randomBytes } from 'node:crypto';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnModuleInit,
} from '@nestjs/common';
import type { SttWorkerConfig } from '@parley/config';
import {
  type RequestOf,
  type ResponseOf,
  type SttTranscriptEvent,
  type SttUtteranceResponse,
  sttContracts,
  sttEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { CONFIG, LOGGER, MESSAGING } from '@parley/runtime';
import {
  type RealtimeResult,
  RealtimeLane,
  RealtimeStream,
  SttError,
  type StreamTranscript,
  whisperLanguageId,
} from '@parley/stt-engine';
import { EngineHost } from './engine.host';
import { WorkerMetrics } from './worker.metrics';

/**
 * s16le bytes (any byte offset: a view into the received NATS message) to Float32 in [-1, 1), in
 * one pass without an intermediate Int16Array; EMPTY_AUDIO for nothing.
 */
export function decodePcm(bytes: Uint8Array): Float32Array {
  const n = bytes.length >> 1;
  if (n === 0) throw new SttError('EMPTY_AUDIO', 'audio is empty (0 samples)');
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true) / 32768;
  return out;
}

/** UNSUPPORTED_LANGUAGE for codes whisper does not know (the model's own limits: engine). */
export function checkLanguage(language: string | undefined): void {
  if (language && language !== 'auto' && whisperLanguageId(language) < 0) {
    throw new SttError('UNSUPPORTED_LANGUAGE', `unknown language code "${language}"`);
  }
}

interface OpenStream {
  stream: RealtimeStream;
  roomId?: string;
  participantId?: string;
  nextSeq: number;
  dropped: number;
}

/**
 * The realtime lane over NATS, served once the model is loaded: `stt.realtime.transcribe` (one
 * utterance or the growing part of one; queue group `stt-worker`) and realtime streams
 * (`stt.stream.open` in the queue group, then `stt.stream.audio|close.<workerId>`). Transcripts
 * of utterances with a room fan out on `stt.transcript.partial|finalized.<roomId>`.
 */
@Injectable()
export class RealtimeHandlers implements OnModuleInit, BeforeApplicationShutdown {
  readonly lane: RealtimeLane;
  readonly #streams = new Map<string, OpenStream>();
  #enabled = false;
  #sweeper?: NodeJS.Timeout;

  constructor(
    @Inject(EngineHost) private readonly host: EngineHost,
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(WorkerMetrics) private readonly metrics: WorkerMetrics,
    @Inject(CONFIG) private readonly config: SttWorkerConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.lane = new RealtimeLane(host.engine, { vad: config.STT_WORKER_VAD });
  }

  onModuleInit(): void {
    this.host.lanes.streams = () => this.#streams.size;
    this.host.lanes.realtimeEnabled = () => this.#enabled;
    // Only a worker with its model serves: NATS then routes every request to a ready worker.
    this.host.onReady(() => {
      if (this.#enabled) return;
      this.#enabled = true;
      const direct = { tokens: [this.host.workerId], queue: false as const };
      this.messaging.serve(sttContracts.realtimeTranscribe, (req) => this.transcribe(req));
      this.messaging.serve(sttContracts.streamOpen, (req) => this.open(req));
      this.messaging.serve(sttContracts.streamAudio, (req) => this.audio(req), direct);
      this.messaging.serve(sttContracts.streamClose, (req) => this.close(req), direct);
      this.#sweeper = setInterval(() => this.#sweep(), 5000);
      this.#sweeper.unref();
      this.host.announce();
      this.logger.info('onReady() | realtime lane open', { workerId: this.host.workerId });
    });
  }

  async transcribe(
    req: RequestOf<typeof sttContracts.realtimeTranscribe>,
  ): Promise<SttUtteranceResponse> {
    const t0 = performance.now();
    let outcome = 'ok';
    try {
      checkLanguage(req.language);
      const pcm = decodePcm(req.audio);
      const r = await this.lane.transcribe({
        utteranceId: req.utteranceId,
        kind: req.kind,
        seq: req.seq,
        pcm,
        startMs: req.startMs ?? 0,
        language: req.language,
        prompt: req.prompt,
        temperature: req.temperature,
        translate: req.translate,
      });
      if (r.skipped) outcome = 'superseded';
      else if (!r.speech) outcome = 'no_speech';
      if (req.roomId && r.speech && !r.skipped) {
        this.#publish({
          roomId: req.roomId,
          participantId: req.participantId,
          utteranceId: req.utteranceId,
          final: req.kind === 'final',
          seq: req.seq,
          result: r,
        });
      }
      return {
        utteranceId: req.utteranceId,
        kind: req.kind,
        ...(req.roomId ? { roomId: req.roomId } : {}),
        ...(req.participantId ? { participantId: req.participantId } : {}),
        speech: r.speech,
        ...(r.skipped ? { skipped: r.skipped } : {}),
        text: r.text,
        segments: r.segments,
        language: r.language,
        startMs: r.startMs,
        endMs: r.endMs,
        workerId: this.host.workerId,
        timing: { ...r.timing, totalMs: performance.now() - t0 },
      };
    } catch (err) {
      const e = SttError.from(err);
      outcome = e.code;
      throw e;
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      this.metrics.realtime.inc({ kind: req.kind, outcome });
      this.metrics.realtimeSeconds.observe({ kind: req.kind }, seconds);
      // One line per final (an access log of the realtime lane; partials at debug). The line
      // carries the utterance's trace and correlation id like every log line of the request.
      const fields = {
        utteranceId: req.utteranceId,
        kind: req.kind,
        outcome,
        ms: Math.round(seconds * 1000),
        ...(req.roomId ? { roomId: req.roomId } : {}),
      };
      if (req.kind === 'final') this.logger.info('transcribe() | utterance transcribed', fields);
      else this.logger.debug('transcribe() | partial transcribed', fields);
    }
  }

  open(req: RequestOf<typeof sttContracts.streamOpen>): ResponseOf<typeof sttContracts.streamOpen> {
    checkLanguage(req.language);
    const streamId = req.streamId ?? `s${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
    const existing = this.#streams.get(streamId);
    if (existing) return { streamId, workerId: this.host.workerId };
    const entry: OpenStream = {
      roomId: req.roomId,
      participantId: req.participantId,
      nextSeq: 0,
      dropped: 0,
      stream: new RealtimeStream(streamId, this.lane, {
        partialIntervalMs: req.partialIntervalMs ?? this.config.STT_WORKER_PARTIAL_INTERVAL_MS,
        language: req.language,
        prompt: req.prompt,
        logger: this.logger,
        onTranscript: (t) => this.#onStreamTranscript(entry, t),
      }),
    };
    this.#streams.set(streamId, entry);
    this.logger.info('open() | realtime stream opened', {
      streamId,
      roomId: req.roomId,
      participantId: req.participantId,
    });
    return { streamId, workerId: this.host.workerId };
  }

  audio(
    req: RequestOf<typeof sttContracts.streamAudio>,
  ): ResponseOf<typeof sttContracts.streamAudio> {
    const entry = this.#get(req.streamId);
    if (req.seq < entry.nextSeq) {
      // A retry of a chunk already fed: feeding it again would duplicate audio.
      entry.dropped++;
    } else {
      entry.nextSeq = req.seq + 1;
      entry.stream.push(decodePcm(req.audio));
    }
    return {
      streamId: req.streamId,
      positionMs: entry.stream.positionMs,
      inUtterance: entry.stream.inUtterance,
      utterances: entry.stream.utterances,
      dropped: entry.dropped,
    };
  }

  async close(
    req: RequestOf<typeof sttContracts.streamClose>,
  ): Promise<ResponseOf<typeof sttContracts.streamClose>> {
    const entry = this.#get(req.streamId);
    this.#streams.delete(req.streamId);
    await entry.stream.close();
    return {
      streamId: req.streamId,
      positionMs: entry.stream.positionMs,
      utterances: entry.stream.utterances,
    };
  }

  #get(streamId: string): OpenStream {
    const entry = this.#streams.get(streamId);
    if (!entry) {
      throw new SttError(
        'STREAM_NOT_FOUND',
        `no open stream ${streamId} on worker ${this.host.workerId}; open a new one`,
      );
    }
    return entry;
  }

  #onStreamTranscript(entry: OpenStream, t: StreamTranscript): void {
    this.metrics.realtime.inc({ kind: 'stream', outcome: t.final ? 'final' : 'partial' });
    if (!entry.roomId) return;
    this.#publish({
      roomId: entry.roomId,
      participantId: entry.participantId,
      utteranceId: t.utteranceId,
      final: t.final,
      seq: t.seq,
      result: t.result,
    });
  }

  #publish(t: {
    roomId: string;
    participantId?: string;
    utteranceId: string;
    final: boolean;
    seq?: number;
    result: RealtimeResult;
  }): void {
    const event: SttTranscriptEvent = {
      roomId: t.roomId,
      ...(t.participantId ? { participantId: t.participantId } : {}),
      utteranceId: t.utteranceId,
      final: t.final,
      ...(t.seq !== undefined ? { seq: t.seq } : {}),
      text: t.result.text,
      segments: t.result.segments,
      language: t.result.language,
      startMs: t.result.startMs,
      endMs: t.result.endMs,
      workerId: this.host.workerId,
      createdAt: Date.now(),
    };
    try {
      this.messaging.publish(
        t.final ? sttEvents.transcriptFinalized : sttEvents.transcriptPartial,
        event,
        { tokens: [t.roomId] },
      );
    } catch (err) {
      this.logger.warn('publish() | transcript not published', {
        roomId: t.roomId,
        err: (err as Error).message,
      });
    }
  }

  #sweep(): void {
    const idleMs = this.config.STT_WORKER_STREAM_IDLE_S * 1000;
    for (const [id, entry] of this.#streams) {
      if (Date.now() - entry.stream.lastActivity < idleMs) continue;
      this.#streams.delete(id);
      this.logger.info('sweep() | idle realtime stream closed', { streamId: id });
      void entry.stream.close();
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#streams.values()].map((e) => e.stream.close()));
    this.#streams.clear();
  }
}
