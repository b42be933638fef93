/**
 * Prometheus metrics of the SFU's voice loop (tap and playback), on the service's registry.
 *
 * Usage (injected): `metrics.finalLatency.observe({ outcome: 'ok' }, seconds)`,
 * `metrics.ttsFirstPacket.observe(seconds)`, `metrics.tapLost.inc(n)`.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Metrics } from '@parley/observability';
import { METRICS } from '@parley/runtime';
import { Counter, Gauge, Histogram } from 'prom-client';

const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1, 1.5, 2, 3, 5, 10];

/** Voice-loop metrics (`parley_sfu_voice_*`). */
@Injectable()
export class VoiceMetrics {
  /** End of an utterance (the VAD's decision) → the final transcript's reply from STT. */
  readonly finalLatency: Histogram<'outcome'>;
  /** `tts.synthesize` sent → first RTP packet of that speech sent into the room. */
  readonly ttsFirstPacket: Histogram;
  /** Utterances by how their final ended (ok, or the error code). */
  readonly utterances: Counter<'outcome'>;
  /** Speech requests by how they ended (done, cancelled, barge_in, error) or were refused. */
  readonly sayRequests: Counter<'outcome'>;
  /** Partials not sent because the previous one of the utterance was still being transcribed. */
  readonly partialsSkipped: Counter;
  /** Tap: RTP packets lost (concealed), Opus packets that failed to decode, non-RTP buffers. */
  readonly tapLost: Counter;
  readonly tapDecodeErrors: Counter;
  readonly tapParseErrors: Counter;
  /** Producers being tapped now. */
  readonly tapStreams: Gauge;

  constructor(@Inject(METRICS) metrics: Metrics) {
    const registers = [metrics.registry];
    this.finalLatency = new Histogram({
      name: 'parley_sfu_voice_final_latency_seconds',
      help: 'End of an utterance (VAD decision) to the final transcript reply',
      labelNames: ['outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.ttsFirstPacket = new Histogram({
      name: 'parley_sfu_voice_tts_first_packet_seconds',
      help: 'TTS request to the first RTP packet of that speech in the room',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.utterances = new Counter({
      name: 'parley_sfu_voice_utterances_total',
      help: 'Utterances the tap sent to STT, by the outcome of their final',
      labelNames: ['outcome'],
      registers,
    });
    this.sayRequests = new Counter({
      name: 'parley_sfu_voice_say_total',
      help: 'Speech requests into rooms by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.partialsSkipped = new Counter({
      name: 'parley_sfu_voice_partials_skipped_total',
      help: 'Partials not sent because the previous one was still in flight',
      registers,
    });
    this.tapLost = new Counter({
      name: 'parley_sfu_voice_tap_packets_lost_total',
      help: 'RTP packets lost on tapped producers (concealed)',
      registers,
    });
    this.tapDecodeErrors = new Counter({
      name: 'parley_sfu_voice_tap_decode_errors_total',
      help: 'Opus packets of tapped producers that failed to decode (concealed)',
      registers,
    });
    this.tapParseErrors = new Counter({
      name: 'parley_sfu_voice_tap_parse_errors_total',
      help: 'Buffers from tapped producers that were not RTP of the negotiated payload type',
      registers,
    });
    this.tapStreams = new Gauge({
      name: 'parley_sfu_voice_tap_streams',
      help: 'Producers being tapped for transcription',
      registers,
    });
  }
}
