/**
 * Live transcription of rooms opened with `transcription: true`: taps every participant's audio
 * producer (`@parley/media` AudioTap → 16 kHz PCM), runs a VAD per producer (`@parley/audio`
 * UtteranceSegmenter), announces `sfu.speech.started|ended.<roomId>`, and sends each utterance to
 * the STT realtime lane (`stt.realtime.transcribe`): a partial every SFU_TAP_PARTIAL_INTERVAL_MS
 * while speech goes on, the final at its end. The STT worker publishes the transcripts.
 *
 * One trace per utterance: a root span `sfu.utterance` starts when speech starts (its start time is
 * the first speech sample) and ends after the final's reply; every request, event and log line of
 * the utterance runs inside it with correlation id = utterance id.
 *
 * Usage: a Nest provider of SfuModule; it follows the rooms' voice settings by itself.
 * `tapOf(roomId)` exposes a room's tap (tests, benchmarks).
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  type Context,
  context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import {
  float32ToBytes,
  Resampler,
  type UtteranceEvent,
  UtteranceSegmenter,
  type UtteranceSegmenterOptions,
} from '@parley/audio';
import type { SfuConfig } from '@parley/config';
import {
  AGENT_PEER_ID,
  type EventContract,
  type PayloadOf,
  STT_REALTIME_MAX_AUDIO_MS,
  sttContracts,
  voiceEvents,
} from '@parley/contracts';
import type { AudioTap, Room, RoomManager, TapStreamStats } from '@parley/media';
import { type NatsMessaging, toErrorBody } from '@parley/messaging';
import { type Logger, recordError, setCorrelationId, tracer } from '@parley/observability';
import { CONFIG, LOGGER, MESSAGING } from '@parley/runtime';
import { MediaService } from '../media.service';
import { SayService } from './say.service';
import { VoiceMetrics } from './voice.metrics';

const STT_RATE = 16_000;
const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** An utterance in progress. */
interface Utterance {
  id: string;
  span: Span;
  ctx: Context;
  /** Wall clock of its first speech sample, ms since the epoch. */
  at: number;
  speechStartMs: number;
  partialInFlight: boolean;
}

/** One tapped producer. */
interface StreamState {
  producerId: string;
  peerId: string;
  segmenter: UtteranceSegmenter;
  utterance?: Utterance;
  seen: { lost: number; decodeErrors: number; parseErrors: number };
}

interface RoomTap {
  room: Room;
  tap?: AudioTap;
  opening?: Promise<void>;
  streams: Map<string, StreamState>;
}

/** The Whisper language code for a room's language setting (`en-US` → `en`), if it has one. */
export function sttLanguage(language: string | undefined): string | undefined {
  const m = language ? /^(auto|[a-z]{2,3})(?:[-_].*)?$/i.exec(language) : null;
  return m?.[1]?.toLowerCase();
}

/** Segmenter settings from the SFU's config. */
export function segmenterOptions(config: SfuConfig): UtteranceSegmenterOptions {
  return {
    vad: { minSpeechDb: config.SFU_VAD_MIN_DB, marginDb: config.SFU_VAD_MARGIN_DB },
    segmenter: {
      minSpeechMs: config.SFU_VAD_MIN_SPEECH_MS,
      hangoverMs: config.SFU_VAD_HANGOVER_MS,
      maxUtteranceMs: Math.min(config.SFU_TAP_MAX_UTTERANCE_MS, STT_REALTIME_MAX_AUDIO_MS),
    },
    partialIntervalMs: config.SFU_TAP_PARTIAL_INTERVAL_MS,
  };
}

/** Audio tap, VAD and STT requests of the rooms with live transcription. */
@Injectable()
export class TapService implements OnModuleInit {
  readonly #rooms = new Map<string, RoomTap>();

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(CONFIG) private readonly config: SfuConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MediaService) private readonly media: MediaService,
    @Inject(SayService) private readonly say: SayService,
    @Inject(VoiceMetrics) private readonly metrics: VoiceMetrics,
  ) {}

  onModuleInit(): void {
    new Resampler(48_000, STT_RATE); // builds the shared filter table at boot
    this.media.onStarted((manager) => this.#wire(manager));
  }

  /** The room's tap, if it is being transcribed. */
  tapOf(roomId: string): AudioTap | undefined {
    return this.#rooms.get(roomId)?.tap;
  }

  #wire(manager: RoomManager): void {
    manager.on('roomcreated', (room) => this.#watch(room));
    for (const room of manager.rooms()) this.#watch(room);
  }

  #watch(room: Room): void {
    const apply = () => {
      if (room.closed) return;
      if (room.voice.transcription) void this.#start(room);
      else this.#stop(room.id);
    };
    room.on('voicechanged', apply);
    room.on('closed', () => this.#stop(room.id));
    apply();
  }

  async #start(room: Room): Promise<void> {
    if (this.#rooms.has(room.id)) return;
    const entry: RoomTap = { room, streams: new Map() };
    this.#rooms.set(room.id, entry);
    entry.opening = (async () => {
      let tap: AudioTap;
      try {
        tap = await room.createAudioTap({ skipPeer: (peerId) => peerId === AGENT_PEER_ID });
      } catch (err) {
        if (this.#rooms.get(room.id) === entry) this.#rooms.delete(room.id);
        this.logger.error('start() | cannot tap the room', {
          roomId: room.id,
          err: (err as Error).message,
        });
        return;
      }
      if (this.#rooms.get(room.id) !== entry || room.closed) {
        tap.close();
        return;
      }
      entry.tap = tap;
      tap.on('streamstarted', ({ producerId, peerId }) => {
        entry.streams.set(producerId, {
          producerId,
          peerId,
          segmenter: new UtteranceSegmenter(segmenterOptions(this.config)),
          seen: { lost: 0, decodeErrors: 0, parseErrors: 0 },
        });
        this.metrics.tapStreams.inc();
      });
      tap.on('audio', ({ producerId, samples }) => {
        const s = entry.streams.get(producerId);
        if (!s) return;
        for (const e of s.segmenter.push(samples)) this.#onEvent(room, s, e);
      });
      tap.on('streamended', ({ producerId, stats }) => {
        const s = entry.streams.get(producerId);
        if (!s) return;
        entry.streams.delete(producerId);
        this.metrics.tapStreams.dec();
        for (const e of s.segmenter.flush()) this.#onEvent(room, s, e);
        this.#countStats(s, stats);
        this.logger.info('tap() | producer no longer tapped', {
          roomId: room.id,
          peerId: s.peerId,
          producerId,
          packets: stats.received,
          lost: stats.lost,
          decodeErrors: stats.decodeErrors,
          cpuMs: Math.round(stats.cpuMs),
        });
      });
      this.logger.info('start() | live transcription on', { roomId: room.id });
    })();
    await entry.opening;
  }

  #stop(roomId: string): void {
    const entry = this.#rooms.get(roomId);
    if (!entry) return;
    this.#rooms.delete(roomId);
    // Open utterances end (flush) and get their finals from the streams' `streamended`.
    entry.tap?.close();
    if (!entry.room.closed) this.logger.info('stop() | live transcription off', { roomId });
  }

  #countStats(s: StreamState, stats: TapStreamStats): void {
    const lost = stats.lost - s.seen.lost;
    const dec = stats.decodeErrors - s.seen.decodeErrors;
    const parse = stats.parseErrors - s.seen.parseErrors;
    if (lost > 0) this.metrics.tapLost.inc(lost);
    if (dec > 0) this.metrics.tapDecodeErrors.inc(dec);
    if (parse > 0) this.metrics.tapParseErrors.inc(parse);
    s.seen = { lost: stats.lost, decodeErrors: stats.decodeErrors, parseErrors: stats.parseErrors };
  }

  #onEvent(room: Room, s: StreamState, e: UtteranceEvent): void {
    if (e.type === 'start') this.#started(room, s, e.speechStartMs);
    else if (e.type === 'partial') this.#partial(room, s, e.seq, e.startMs, e.audio);
    else this.#ended(room, s, e.startMs, e.endMs, e.audio, e.reason);
    // Loss and decode errors are counted as they happen, once per VAD event at most.
    const stats = this.tapOf(room.id)
      ?.streams()
      .find((x) => x.producerId === s.producerId)?.stats;
    if (stats) this.#countStats(s, stats);
  }

  #started(room: Room, s: StreamState, speechStartMs: number): void {
    const id = randomUUID();
    const at = Date.now() - Math.max(0, s.segmenter.positionMs - speechStartMs);
    const span = tracer().startSpan(
      'sfu.utterance',
      {
        kind: SpanKind.INTERNAL,
        startTime: at,
        attributes: {
          'parley.room_id': room.id,
          'parley.peer_id': s.peerId,
          'parley.utterance_id': id,
          'parley.correlation_id': id,
        },
      },
      ROOT_CONTEXT,
    );
    const ctx = setCorrelationId(trace.setSpan(ROOT_CONTEXT, span), id);
    s.utterance = { id, span, ctx, at, speechStartMs, partialInFlight: false };
    context.with(ctx, () => {
      this.logger.info('utterance() | speech started', {
        roomId: room.id,
        peerId: s.peerId,
        utteranceId: id,
        startMs: Math.round(speechStartMs),
      });
      this.#publish(voiceEvents.speechStarted, room.id, {
        roomId: room.id,
        peerId: s.peerId,
        utteranceId: id,
        at,
        startMs: speechStartMs,
      });
      this.say.bargeIn(room.id);
    });
  }

  #partial(room: Room, s: StreamState, seq: number, startMs: number, audio: Float32Array): void {
    const u = s.utterance;
    if (!u) return;
    if (u.partialInFlight) {
      this.metrics.partialsSkipped.inc();
      return;
    }
    u.partialInFlight = true;
    void context.with(u.ctx, async () => {
      try {
        await this.#transcribe(room, s, u, 'partial', startMs, audio, seq);
      } catch (err) {
        const body = toErrorBody(err);
        this.logger.warn('utterance() | partial failed', {
          roomId: room.id,
          utteranceId: u.id,
          seq,
          code: body.code,
          reason: body.message,
        });
      } finally {
        u.partialInFlight = false;
      }
    });
  }

  #ended(
    room: Room,
    s: StreamState,
    startMs: number,
    endMs: number,
    audio: Float32Array,
    reason: string,
  ): void {
    const u = s.utterance;
    s.utterance = undefined;
    if (!u) return;
    const decided = performance.now();
    const decidedAt = Date.now();
    u.span.setAttribute('parley.utterance_ms', Math.round(endMs - startMs));
    u.span.setAttribute('parley.vad_end_reason', reason);
    void context.with(u.ctx, async () => {
      this.logger.info('utterance() | speech ended', {
        roomId: room.id,
        peerId: s.peerId,
        utteranceId: u.id,
        durationMs: Math.round(endMs - startMs),
        reason,
      });
      this.#publish(voiceEvents.speechEnded, room.id, {
        roomId: room.id,
        peerId: s.peerId,
        utteranceId: u.id,
        at: u.at,
        startMs: u.speechStartMs,
        endMs: Math.max(endMs, u.speechStartMs),
        decidedAt,
      });
      let outcome = 'ok';
      try {
        const reply = await this.#transcribe(room, s, u, 'final', startMs, audio);
        this.logger.info('utterance() | final transcript', {
          roomId: room.id,
          utteranceId: u.id,
          speech: reply.speech,
          chars: reply.text.length,
          workerId: reply.workerId,
          latencyMs: Math.round(performance.now() - decided),
        });
      } catch (err) {
        const body = toErrorBody(err);
        outcome = body.code;
        recordError(u.span, err);
        this.logger.warn('utterance() | final failed', {
          roomId: room.id,
          utteranceId: u.id,
          code: body.code,
          reason: body.message,
        });
      } finally {
        const seconds = (performance.now() - decided) / 1000;
        this.metrics.finalLatency.observe({ outcome }, seconds);
        this.metrics.utterances.inc({ outcome });
        u.span.end();
      }
    });
  }

  async #transcribe(
    room: Room,
    s: StreamState,
    u: Utterance,
    kind: 'partial' | 'final',
    startMs: number,
    audio: Float32Array,
    seq?: number,
  ) {
    const max = (STT_REALTIME_MAX_AUDIO_MS * STT_RATE) / 1000;
    const pcm = audio.length > max ? audio.subarray(0, max) : audio;
    const language = sttLanguage(room.voice.language);
    return this.messaging.request(
      sttContracts.realtimeTranscribe,
      {
        utteranceId: u.id,
        roomId: room.id,
        ...(TOKEN.test(s.peerId) ? { participantId: s.peerId } : {}),
        kind,
        ...(seq !== undefined ? { seq } : {}),
        startMs: Math.max(0, startMs),
        audio: float32ToBytes(pcm),
        ...(language ? { language } : {}),
      },
      { timeoutMs: this.config.SFU_STT_TIMEOUT_MS },
    );
  }

  #publish<E extends EventContract>(event: E, roomId: string, payload: PayloadOf<E>): void {
    try {
      this.messaging.publish(event, payload, { tokens: [roomId] });
    } catch (err) {
      this.logger.warn('publish() | cannot publish voice event', {
        subject: event.subject,
        roomId,
        err: (err as Error).message,
      });
    }
  }
}
