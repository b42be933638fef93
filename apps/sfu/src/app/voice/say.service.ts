/**
 * Speech into rooms: serves `sfu.say.start.<roomId>` / `sfu.say.stop.<roomId>` for each room this
 * node hosts (subscribed when the room opens, unsubscribed when it closes, so `NO_RESPONDERS` means
 * the room is live nowhere), streams the text through `tts.synthesize` and plays it through the
 * room's agent producer (`@parley/media` AgentPlayback: queue per room, 48 kHz Opus, 20 ms RTP
 * paced in real time). Publishes `sfu.say.started|ended.<roomId>`.
 *
 * Usage: a Nest provider of SfuModule. Other services call it over NATS:
 * ```ts
 * await messaging.request(voiceContracts.say, { roomId, text: 'Hello.' }, { tokens: [roomId] });
 * ```
 * In-process, the tap calls {@link SayService.bargeIn} when a participant starts speaking.
 */
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type Context, context } from '@opentelemetry/api';
import { Resampler, warmUpOpus } from '@parley/audio';
import type { SfuConfig } from '@parley/config';
import {
  AGENT_PEER_ID,
  type EventContract,
  type PayloadOf,
  type RequestOf,
  type ResponseOf,
  ttsContracts,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import { AgentPlayback, MediaError, type Room, type RoomManager } from '@parley/media';
import { type NatsMessaging, toErrorBody } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { CONFIG, LOGGER, MESSAGING, ParleyError } from '@parley/runtime';
import { MediaService } from '../media.service';
import { ttsStream, type TtsStream } from './tts-stream';
import { VoiceMetrics } from './voice.metrics';

type SayRequest = RequestOf<typeof voiceContracts.say>;
type SayResponse = ResponseOf<typeof voiceContracts.say>;
type StopRequest = RequestOf<typeof voiceContracts.sayStop>;
type StopResponse = ResponseOf<typeof voiceContracts.sayStop>;

/** What is known of one speech request while it is queued or plays. */
interface SayRecord {
  sayId: string;
  text: string;
  voice?: string;
  requestedBy?: string;
  requestedAt: number;
  stream: TtsStream;
  /** The request's trace and correlation id, for the events and logs that follow it. */
  ctx: Context;
}

interface RoomSpeech {
  room: Room;
  playback: AgentPlayback;
  says: Map<string, SayRecord>;
  unserve: (() => void)[];
}

/** Speech requests per room, on the room's agent producer. */
@Injectable()
export class SayService implements OnModuleInit {
  readonly #rooms = new Map<string, RoomSpeech>();
  #defaultVoice?: string;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(CONFIG) private readonly config: SfuConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MediaService) private readonly media: MediaService,
    @Inject(VoiceMetrics) private readonly metrics: VoiceMetrics,
  ) {}

  onModuleInit(): void {
    // Costs of a first use paid at boot, not on the first speech request's first packet: the
    // Opus codec's WebAssembly compilation and the resampling filters of Piper's usual rates.
    warmUpOpus();
    for (const rate of [16_000, 22_050, 24_000]) new Resampler(rate, 48_000);
    this.media.onStarted((manager) => this.#wire(manager));
  }

  /** A participant started speaking: stop what plays in the room (unless barge-in is off). */
  bargeIn(roomId: string): number {
    const entry = this.#rooms.get(roomId);
    if (!entry || entry.room.voice.bargeIn === false || entry.playback.size === 0) return 0;
    this.logger.info('bargeIn() | participant speaks: speech into the room stopped', {
      roomId,
      sayId: entry.playback.current,
    });
    return entry.playback.stopAll('barge_in');
  }

  /** The room's playback (tests, benchmarks). */
  playbackOf(roomId: string): AgentPlayback | undefined {
    return this.#rooms.get(roomId)?.playback;
  }

  #wire(manager: RoomManager): void {
    manager.on('roomcreated', (room) => this.#attach(room));
    for (const room of manager.rooms()) this.#attach(room);
  }

  #attach(room: Room): void {
    if (this.#rooms.has(room.id) || room.closed) return;
    const playback = new AgentPlayback(room, {
      peerId: AGENT_PEER_ID,
      appData: { displayName: 'Parley agent' },
      logger: this.logger,
    });
    const entry: RoomSpeech = { room, playback, says: new Map(), unserve: [] };
    this.#rooms.set(room.id, entry);
    playback.on('started', (e) => this.#onStarted(entry, e));
    playback.on('ended', (e) => this.#onEnded(entry, e));
    // Served on `<subject>.<roomId>` only while the room lives here (no queue group): a request for
    // a room that is live nowhere gets NO_RESPONDERS at once.
    const direct = { tokens: [room.id], queue: false as const };
    entry.unserve.push(
      this.messaging.serve(voiceContracts.say, (r) => this.say(entry, r), direct),
      this.messaging.serve(voiceContracts.sayStop, (r) => this.stop(entry, r), direct),
    );
    room.on('closed', () => {
      for (const off of entry.unserve) off();
      playback.close();
      if (this.#rooms.get(room.id) === entry) this.#rooms.delete(room.id);
    });
  }

  /** `sfu.say.start.<roomId>`. */
  async say(entry: RoomSpeech, req: SayRequest): Promise<SayResponse> {
    const { room, playback } = entry;
    if (req.roomId !== room.id) {
      throw new ParleyError('BAD_REQUEST', `roomId "${req.roomId}" does not match the subject`);
    }
    if (room.closed) throw new MediaError('ROOM_CLOSED', `room "${room.id}" is closed`);
    if (!req.interrupt && playback.size >= this.config.SFU_SAY_MAX_QUEUE) {
      this.metrics.sayRequests.inc({ outcome: 'busy' });
      throw new ParleyError(
        'BUSY',
        `room "${room.id}" already has ${playback.size} speech requests queued`,
        503,
        true,
      );
    }
    const sayId = req.sayId ?? randomUUID();
    if (entry.says.has(sayId)) {
      throw new MediaError('ALREADY_EXISTS', `speech "${sayId}" is already queued`);
    }
    const voice = req.voice ?? room.voice.ttsVoice;
    const stream = ttsStream(
      this.messaging,
      { text: req.text, voice, speaker: req.speaker, lengthScale: req.lengthScale },
      {
        firstAudioTimeoutMs: this.config.SFU_TTS_FIRST_AUDIO_TIMEOUT_MS,
        timeoutMs: this.config.SFU_TTS_TIMEOUT_MS,
      },
    );
    const record: SayRecord = {
      sayId,
      text: req.text,
      voice,
      requestedBy: req.requestedBy,
      requestedAt: Date.now(),
      stream,
      ctx: context.active(),
    };
    if (!voice) void this.#learnDefaultVoice();
    entry.says.set(sayId, record);
    try {
      const { producerId, queued } = await playback.enqueue({
        id: sayId,
        source: stream,
        interrupt: req.interrupt,
      });
      this.logger.info('say() | speech queued', {
        roomId: room.id,
        sayId,
        queued,
        chars: req.text.length,
        requestedBy: req.requestedBy,
      });
      return { sayId, producerId, queued };
    } catch (err) {
      entry.says.delete(sayId);
      this.metrics.sayRequests.inc({ outcome: 'refused' });
      throw err;
    }
  }

  /** `sfu.say.stop.<roomId>`. */
  stop(entry: RoomSpeech, req: StopRequest): StopResponse {
    if (req.roomId !== entry.room.id) {
      throw new ParleyError('BAD_REQUEST', `roomId "${req.roomId}" does not match the subject`);
    }
    if (req.sayId) return { stopped: entry.playback.stop(req.sayId, 'cancelled') ? 1 : 0 };
    return { stopped: entry.playback.stopAll('cancelled') };
  }

  #onStarted(
    entry: RoomSpeech,
    e: { id: string; producerId: string; firstPacketAt: number },
  ): void {
    const record = entry.says.get(e.id);
    if (!record) return;
    context.with(record.ctx, () => {
      const sentAt = record.stream.requestedAt;
      if (sentAt !== undefined) {
        const seconds = (performance.now() - sentAt) / 1000;
        this.metrics.ttsFirstPacket.observe(seconds);
        this.logger.info('say() | speech playing', {
          roomId: entry.room.id,
          sayId: e.id,
          ttsToFirstPacketMs: Math.round(seconds * 1000),
        });
      }
      this.#publish(voiceEvents.sayStarted, entry.room.id, {
        roomId: entry.room.id,
        sayId: e.id,
        producerId: e.producerId,
        voice: record.voice || record.stream.voice || this.#defaultVoice || 'default',
        text: record.text,
        ...(record.requestedBy ? { requestedBy: record.requestedBy } : {}),
        requestedAt: record.requestedAt,
        firstPacketAt: e.firstPacketAt,
      });
    });
  }

  #onEnded(
    entry: RoomSpeech,
    e: {
      id: string;
      producerId: string;
      reason: 'done' | 'cancelled' | 'barge_in' | 'error';
      playedMs: number;
      endedAt: number;
      error?: Error;
    },
  ): void {
    const record = entry.says.get(e.id);
    entry.says.delete(e.id);
    this.metrics.sayRequests.inc({ outcome: e.reason });
    const run = () => {
      const error = e.error ? toErrorBody(e.error) : undefined;
      this.logger.log(e.reason === 'error' ? 'warn' : 'info', 'say() | speech ended', {
        roomId: entry.room.id,
        sayId: e.id,
        reason: e.reason,
        playedMs: e.playedMs,
        ...(error ? { code: error.code, reason_message: error.message } : {}),
      });
      this.#publish(voiceEvents.sayEnded, entry.room.id, {
        roomId: entry.room.id,
        sayId: e.id,
        producerId: e.producerId,
        reason: e.reason,
        ...(error ? { error } : {}),
        playedMs: e.playedMs,
        endedAt: e.endedAt,
      });
    };
    if (record) context.with(record.ctx, run);
    else run();
  }

  async #learnDefaultVoice(): Promise<void> {
    if (this.#defaultVoice !== undefined) return;
    this.#defaultVoice = '';
    try {
      this.#defaultVoice = (await this.messaging.request(ttsContracts.voices, {})).default;
    } catch {
      this.#defaultVoice = undefined;
    }
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
