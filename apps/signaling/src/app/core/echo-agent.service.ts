import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  type SttTranscriptEvent,
  speechEndedAt,
  sttEvents,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger, Metrics } from '@parley/observability';
import { LOGGER, MESSAGING, METRICS } from '@parley/runtime';
import { Histogram } from 'prom-client';
import { BoundedMap } from './bounded-map';
import { StateStore } from './state.store';

/** Utterances whose end of speech is remembered for latency metrics. */
const SPEECH_MEMORY = 2048;
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 5, 10];

/**
 * The demo agent of rooms created with `agent: 'echo'`: it answers every final transcript with
 * speech ("You said …"). It is an ordinary NATS consumer/producer — it listens to
 * `stt.transcript.finalized.<roomId>` (queue group: one signaling replica answers) and asks the SFU
 * hosting the room to speak with `sfu.say.start.<roomId>` — so a real agent in any language can
 * replace it by doing the same.
 *
 * It also measures the loop (Prometheus): end of speech → final transcript, and end of speech →
 * first packet of the answer in the room (mouth-to-ear through the agent), each observed once
 * across replicas. End of speech is the wall clock of the last speech sample, from
 * `sfu.speech.ended.<roomId>`.
 */
@Injectable()
export class EchoAgent implements OnModuleInit {
  /** utteranceId -> wall clock of its last speech sample. */
  private readonly speechEnd = new BoundedMap<string, number>(SPEECH_MEMORY);
  /** sayId -> end of the speech it answers. */
  private readonly answering = new BoundedMap<string, number>(SPEECH_MEMORY);
  private readonly eosToFinal: Histogram;
  private readonly mouthToEar: Histogram;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) metrics: Metrics,
    @Inject(StateStore) private readonly store: StateStore,
  ) {
    this.eosToFinal = new Histogram({
      name: 'parley_voice_eos_to_final_seconds',
      help: 'End of speech (last speech sample) to the final transcript reaching signaling',
      buckets: LATENCY_BUCKETS,
      registers: [metrics.registry],
    });
    this.mouthToEar = new Histogram({
      name: 'parley_voice_mouth_to_ear_seconds',
      help: "End of speech to the first packet of the echo agent's answer in the room",
      buckets: LATENCY_BUCKETS,
      registers: [metrics.registry],
    });
  }

  onModuleInit(): void {
    const all = { tokens: ['*'] };
    const queue = { tokens: ['*'], queue: 'signaling-echo-agent' };
    // Every replica remembers every end of speech (bounded): the replica the queue group hands
    // the final to may not be the one that would have had the end of speech in a queue group.
    this.messaging.subscribe(
      voiceEvents.speechEnded,
      (e) => void this.speechEnd.set(e.utteranceId, speechEndedAt(e)),
      all,
    );
    this.messaging.subscribe(sttEvents.transcriptFinalized, (e) => this.answer(e), queue);
    this.messaging.subscribe(
      voiceEvents.sayStarted,
      (e) => {
        const end = this.answering.get(e.sayId);
        if (end === undefined) return;
        this.answering.delete(e.sayId);
        this.mouthToEar.observe(Math.max(0, e.firstPacketAt - end) / 1000);
      },
      all,
    );
  }

  private async answer(e: SttTranscriptEvent): Promise<void> {
    const end = this.speechEnd.get(e.utteranceId);
    this.speechEnd.delete(e.utteranceId);
    if (end !== undefined) this.eosToFinal.observe(Math.max(0, Date.now() - end) / 1000);
    const room = await this.store.getRoom(e.roomId).catch(() => undefined);
    if (room?.options.agent !== 'echo') return;
    const heard = e.text.trim();
    const text = heard ? `You said: ${heard}` : 'I heard you, but could not make out the words.';
    const sayId = randomUUID();
    if (end !== undefined) this.answering.set(sayId, end);
    try {
      await this.messaging.request(
        voiceContracts.say,
        {
          roomId: e.roomId,
          sayId,
          text: text.slice(0, 1000),
          ...(room.options.ttsVoice ? { voice: room.options.ttsVoice } : {}),
          requestedBy: 'agent:echo',
        },
        { tokens: [e.roomId] },
      );
      this.logger.info('answer() | echo agent speaks', {
        roomId: e.roomId,
        utteranceId: e.utteranceId,
        sayId,
      });
    } catch (err) {
      this.answering.delete(sayId);
      this.logger.warn('answer() | echo agent could not speak', {
        roomId: e.roomId,
        utteranceId: e.utteranceId,
        err: (err as Error).message,
      });
    }
  }
}
