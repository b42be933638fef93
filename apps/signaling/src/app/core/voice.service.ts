import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { assertGrant } from '@parley/auth';
import {
  type SttTranscriptEvent,
  type WsRequestData,
  type WsResponseData,
  speechEndedAt,
  sttEvents,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import { type Logger, type Metrics, inSpan } from '@parley/observability';
import { LOGGER, MESSAGING, METRICS } from '@parley/runtime';
import { Counter, Histogram } from 'prom-client';
import { SignalingError } from './errors';
import { BoundedMap } from './bounded-map';
import { Hub } from './hub.service';
import type { PeerLink } from './peer-link';
import { SfuClient } from './sfu.client';

/** Speech requests (for `stopSpeech` ownership) and speech ends remembered per node. */
const OWNED_MEMORY = 4096;

/**
 * The voice loop as signaling sees it. Transcripts (`stt.transcript.partial|finalized.<roomId>`)
 * and speech events (`sfu.say.started|ended.<roomId>`) fan out to the room's local sockets as
 * `transcriptPartial`/`transcriptFinal`/`ttsStarted`/`ttsEnded`; each delivery is a span of the
 * utterance's trace (the event's headers carry it). `say` and `stopSpeech` become
 * `sfu.say.start|stop.<roomId>`, served by the SFU node hosting the room.
 */
@Injectable()
export class VoiceService implements OnModuleInit {
  /** sayId -> peerId of the participant that asked (this node's requests only). */
  private readonly owned = new BoundedMap<string, string>(OWNED_MEMORY);
  /** utteranceId -> wall clock of its last speech sample (from the SFU tap). */
  private readonly speechEnd = new BoundedMap<string, number>(OWNED_MEMORY);
  private readonly delivered: Counter;
  private readonly transcriptAge: Histogram;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) metrics: Metrics,
    @Inject(Hub) private readonly hub: Hub,
    @Inject(SfuClient) private readonly sfu: SfuClient,
  ) {
    this.delivered = new Counter({
      name: 'parley_signaling_voice_notifications_total',
      help: 'Transcript and speech notifications delivered to sockets',
      labelNames: ['kind'],
      registers: [metrics.registry],
    });
    this.transcriptAge = new Histogram({
      name: 'parley_signaling_transcript_delivery_seconds',
      help: 'Transcript creation (worker clock) to delivery to the room sockets',
      labelNames: ['final'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [metrics.registry],
    });
  }

  onModuleInit(): void {
    const all = { tokens: ['*'] };
    const m = this.messaging;
    m.subscribe(
      voiceEvents.speechEnded,
      (e) => {
        if (this.hub.hasRoom(e.roomId)) {
          this.speechEnd.set(e.utteranceId, speechEndedAt(e));
        }
      },
      all,
    );
    m.subscribe(sttEvents.transcriptPartial, (e) => this.deliverTranscript(e), all);
    m.subscribe(sttEvents.transcriptFinalized, (e) => this.deliverTranscript(e), all);
    m.subscribe(
      voiceEvents.sayStarted,
      (e) => {
        const n = this.hub.toRoom(e.roomId, (l) =>
          l.notify('ttsStarted', {
            requestId: e.sayId,
            producerId: e.producerId,
            voice: e.voice,
            text: e.text,
            requestedAt: e.requestedAt,
            firstPacketAt: e.firstPacketAt,
          }),
        );
        this.delivered.inc({ kind: 'tts_started' }, n);
      },
      all,
    );
    m.subscribe(
      voiceEvents.sayEnded,
      (e) => {
        this.owned.delete(e.sayId);
        const n = this.hub.toRoom(e.roomId, (l) =>
          l.notify('ttsEnded', {
            requestId: e.sayId,
            producerId: e.producerId,
            reason: e.reason,
            playedMs: e.playedMs,
            ...(e.error ? { error: e.error } : {}),
          }),
        );
        this.delivered.inc({ kind: 'tts_ended' }, n);
      },
      all,
    );
  }

  private async deliverTranscript(e: SttTranscriptEvent): Promise<void> {
    if (!e.participantId || !this.hub.hasRoom(e.roomId)) return;
    const peerId = e.participantId;
    await inSpan(
      'signaling.transcript.deliver',
      { attributes: { 'parley.room_id': e.roomId, 'parley.utterance_id': e.utteranceId } },
      (span) => {
        const identity = this.hub.find(e.roomId, peerId)?.session?.identity;
        const endedAt = e.final ? this.speechEnd.get(e.utteranceId) : undefined;
        if (e.final) this.speechEnd.delete(e.utteranceId);
        const segment = {
          utteranceId: e.utteranceId,
          peerId,
          ...(identity ? { identity } : {}),
          text: e.text,
          language: e.language,
          startMs: e.startMs,
          endMs: e.endMs,
          ...(e.seq !== undefined ? { seq: e.seq } : {}),
          createdAt: e.createdAt,
          ...(endedAt !== undefined ? { speechEndedAt: endedAt } : {}),
        };
        const n = this.hub.toRoom(e.roomId, (l) =>
          l.notify(e.final ? 'transcriptFinal' : 'transcriptPartial', segment),
        );
        span.setAttribute('parley.recipients', n);
        this.delivered.inc({ kind: e.final ? 'transcript_final' : 'transcript_partial' }, n);
        this.transcriptAge.observe(
          { final: String(e.final) },
          Math.max(0, Date.now() - e.createdAt) / 1000,
        );
        if (e.final) {
          this.logger.info('transcript() | final delivered', {
            roomId: e.roomId,
            peerId,
            utteranceId: e.utteranceId,
            recipients: n,
            chars: e.text.length,
          });
        }
      },
    );
  }

  /** `say`: the agent participant speaks text into the caller's room. */
  async say(link: PeerLink, data: WsRequestData<'say'>): Promise<WsResponseData<'say'>> {
    const s = link.session;
    if (!s) throw new SignalingError('NOT_JOINED', 'send join first');
    assertGrant(s.role, s.grants, 'publish');
    const r = await this.speak(s.roomId, {
      text: data.text,
      ...(data.voice ? { voice: data.voice } : {}),
      ...(data.interrupt ? { interrupt: true } : {}),
      requestedBy: `peer:${s.peerId}`,
    });
    this.owned.set(r.sayId, s.peerId);
    return { requestId: r.sayId, producerId: r.producerId, queued: r.queued };
  }

  /** `stopSpeech`: your own requests, or any with the admin grant. */
  async stopSpeech(
    link: PeerLink,
    data: WsRequestData<'stopSpeech'>,
  ): Promise<WsResponseData<'stopSpeech'>> {
    const s = link.session;
    if (!s) throw new SignalingError('NOT_JOINED', 'send join first');
    const admin = s.role === 'admin' && s.grants.admin;
    if (!admin) {
      assertGrant(s.role, s.grants, 'publish');
      if (!data.requestId) {
        throw new SignalingError('FORBIDDEN', 'only an admin may stop all speech in the room');
      }
      if (this.owned.get(data.requestId) !== s.peerId) {
        throw new SignalingError('FORBIDDEN', 'you may stop only your own speech requests');
      }
    }
    return this.stop(s.roomId, data.requestId);
  }

  /** Speaks into a room by its SFU room id (REST and WS callers; the agent calls the SFU itself). */
  async speak(
    roomId: string,
    req: { text: string; voice?: string; interrupt?: boolean; requestedBy: string },
  ): Promise<{ sayId: string; producerId: string; queued: number }> {
    try {
      return await this.sfu.call(
        voiceContracts.say,
        { roomId, sayId: randomUUID(), ...req },
        roomId,
      );
    } catch (err) {
      throw this.roomNotLive(err);
    }
  }

  /** Stops speech in a room (one request or all). */
  async stop(roomId: string, sayId: string | undefined): Promise<{ stopped: number }> {
    try {
      return await this.sfu.call(
        voiceContracts.sayStop,
        { roomId, ...(sayId ? { sayId } : {}) },
        roomId,
      );
    } catch (err) {
      throw this.roomNotLive(err);
    }
  }

  /** No SFU node serves the room's say subject: nobody is in it (the SFU closed it) or it is gone. */
  private roomNotLive(err: unknown): unknown {
    if (SfuClient.nodeGone(err)) {
      return new SignalingError('ROOM_NOT_LIVE', 'the room has no media session: join it first');
    }
    return err;
  }
}
