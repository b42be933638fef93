/**
 * The server-side audio tap of a room: every audio producer of the room's participants is consumed
 * on a DirectTransport, its RTP depacketised (reorder, loss → Opus PLC), decoded and resampled to
 * 16 kHz mono Float32 — what a VAD and Whisper take.
 *
 * Usage:
 * ```ts
 * const tap = await room.createAudioTap({ skipPeer: (id) => id === 'agent' });
 * tap.on('streamstarted', ({ producerId, peerId }) => …);
 * tap.on('audio', ({ producerId, peerId, samples }) => vad.push(samples));   // 16 kHz
 * tap.on('streamended', ({ producerId, stats }) => …);                       // producer gone
 * tap.close();                                                               // or room.close()
 * ```
 *
 * While a producer sends nothing (paused, muted, DTX) the tap keeps its timeline moving with
 * silence in real time (after `jitterMs`, for at most `idleFillMs`), so a VAD downstream sees the
 * end of speech without waiting for the next packet.
 */
import {
  OpusRtpReceiver,
  type OpusRtpReceiverStats,
  Resampler,
  OPUS_RTP_CLOCK_RATE,
  warmUpOpus,
} from '@parley/audio';
import type { types as ms } from 'mediasoup';

import { toMediaError } from './MediaError';
import type { MediaLogger } from './MediaLogger';
import type { ProducerInfo } from './MediaTypes';
import type { Room } from './Room';
import type { RoomRouter } from './RoomRouter';
import { TypedEmitter } from './TypedEmitter';

/** Options of an {@link AudioTap}. */
export interface AudioTapOptions {
  /** Output sample rate; default 16000. */
  sampleRate?: number;
  /** Producers of these peers are not tapped (the server's own speech); default none. */
  skipPeer?: (peerId: string) => boolean;
  /** Silence after the last packet before the timeline is moved on without packets; default 150 ms. */
  jitterMs?: number;
  /** Longest stretch of silence filled while nothing arrives; default 2000 ms. */
  idleFillMs?: number;
  /** Timer period of the idle filler; default 50 ms. */
  tickMs?: number;
  /** RTP reorder depth (packets); default 3. */
  reorderDepth?: number;
}

/** Counters of one tapped producer. */
export interface TapStreamStats extends OpusRtpReceiverStats {
  /** Main-thread time spent on this stream (depacketise, decode, resample), ms. */
  cpuMs: number;
  /** Output samples emitted (at the tap's rate). */
  samples: number;
}

/** One tapped producer. */
export interface TapStreamInfo {
  producerId: string;
  peerId: string;
  consumerId: string;
  startedAt: number;
  stats: TapStreamStats;
}

/** Events of an {@link AudioTap}. */
export type AudioTapEvents = {
  /** A producer is being tapped. */
  streamstarted: [{ producerId: string; peerId: string }];
  /** PCM of a producer, in order, at the tap's rate; `samples` is not reused by the tap. */
  audio: [{ producerId: string; peerId: string; samples: Float32Array }];
  /** A producer's stream ended (producer closed, tap or room closed); its last audio came before. */
  streamended: [{ producerId: string; peerId: string; stats: TapStreamStats }];
  /** Tapping a producer failed (it stays untapped). */
  streamerror: [{ producerId: string; peerId: string; error: Error }];
  closed: [];
};

/** @internal What the room gives its tap. */
export interface AudioTapHost {
  readonly room: Room;
  readonly router: RoomRouter;
  readonly logger: MediaLogger;
  /** Pipes a producer living on another router of the room to the tap's router. */
  ensureOnRouter(producerId: string): Promise<void>;
}

interface Stream {
  info: TapStreamInfo;
  consumer: ms.Consumer;
  receiver: OpusRtpReceiver;
  resampler: Resampler;
  /** Wall clock (performance.now) when the timeline last moved. */
  lastActivity: number;
  /** Silence filled since the last packet, ms. */
  idleFilled: number;
}

/**
 * Taps a room's audio producers. Created by `room.createAudioTap()`; follows the room's producers
 * as they come and go; closes with the room. `close()` is idempotent.
 */
export class AudioTap extends TypedEmitter<AudioTapEvents> {
  readonly roomId: string;
  readonly sampleRate: number;
  readonly #host: AudioTapHost;
  readonly #transport: ms.DirectTransport;
  readonly #options: Required<Omit<AudioTapOptions, 'sampleRate'>>;
  readonly #streams = new Map<string, Stream>();
  readonly #pending = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  #lastTick = performance.now();
  readonly #unlisten: () => void;
  #closed = false;

  private constructor(host: AudioTapHost, transport: ms.DirectTransport, options: AudioTapOptions) {
    super(host.logger);
    this.#host = host;
    this.roomId = host.room.id;
    this.#transport = transport;
    this.sampleRate = options.sampleRate ?? 16_000;
    this.#options = {
      skipPeer: options.skipPeer ?? (() => false),
      jitterMs: options.jitterMs ?? 150,
      idleFillMs: options.idleFillMs ?? 2000,
      tickMs: options.tickMs ?? 50,
      reorderDepth: options.reorderDepth ?? 3,
    };
    const room = host.room;
    const onProducer = (p: ProducerInfo) => void this.#tap(p);
    const onClosed = (p: { producerId: string }) => this.#untap(p.producerId);
    const onRoomClosed = () => this.close();
    room.on('newproducer', onProducer);
    room.on('producerclosed', onClosed);
    room.on('closed', onRoomClosed);
    this.#unlisten = () => {
      room.off('newproducer', onProducer);
      room.off('producerclosed', onClosed);
      room.off('closed', onRoomClosed);
    };
    transport.observer.on('close', () => this.close());
    this.#timer = setInterval(() => this.#tick(), this.#options.tickMs);
    this.#timer.unref();
  }

  /** @internal Use `room.createAudioTap()`. */
  static async create(host: AudioTapHost, options: AudioTapOptions = {}): Promise<AudioTap> {
    let transport: ms.DirectTransport;
    try {
      transport = await host.router.router.createDirectTransport({
        maxMessageSize: 262_144,
        appData: { audioTap: true },
      });
    } catch (err) {
      throw toMediaError(err);
    }
    warmUpOpus();
    const tap = new AudioTap(host, transport, options);
    for (const p of host.room.producers()) void tap.#tap(p);
    host.logger.info('AudioTap.create() | tapping room audio', {
      roomId: host.room.id,
      producers: host.room.producers().filter((p) => p.kind === 'audio').length,
    });
    return tap;
  }

  /** Whether the tap is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The producers being tapped, with their counters. */
  streams(): TapStreamInfo[] {
    return [...this.#streams.values()].map((s) => s.info);
  }

  /** Stops tapping: consumers and the transport close, `streamended` for each stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unlisten();
    for (const id of [...this.#streams.keys()]) this.#untap(id);
    this.#transport.close();
    this.safeEmit('closed');
    this.removeAllListeners();
  }

  async #tap(p: ProducerInfo): Promise<void> {
    if (this.#closed || p.kind !== 'audio' || this.#options.skipPeer(p.peerId)) return;
    if (this.#streams.has(p.id) || this.#pending.has(p.id)) return;
    this.#pending.add(p.id);
    let consumer: ms.Consumer;
    try {
      await this.#host.ensureOnRouter(p.id);
      consumer = await this.#transport.consume({
        producerId: p.id,
        rtpCapabilities: this.#host.router.router.rtpCapabilities,
      });
    } catch (err) {
      this.#pending.delete(p.id);
      if (this.#closed) return;
      const error = toMediaError(err);
      this.logger.warn('tap() | cannot tap producer', {
        roomId: this.roomId,
        producerId: p.id,
        error: error.message,
      });
      this.safeEmit('streamerror', { producerId: p.id, peerId: p.peerId, error });
      return;
    }
    this.#pending.delete(p.id);
    if (this.#closed) {
      consumer.close();
      return;
    }
    const opus = consumer.rtpParameters.codecs.find(
      (c) => c.mimeType.toLowerCase() === 'audio/opus',
    );
    const receiver = new OpusRtpReceiver({
      payloadType: opus?.payloadType,
      reorderDepth: this.#options.reorderDepth,
    });
    const stream: Stream = {
      info: {
        producerId: p.id,
        peerId: p.peerId,
        consumerId: consumer.id,
        startedAt: Date.now(),
        stats: Object.assign(receiver.stats, { cpuMs: 0, samples: 0 }) as TapStreamStats,
      },
      consumer,
      receiver,
      resampler: new Resampler(OPUS_RTP_CLOCK_RATE, this.sampleRate),
      lastActivity: performance.now(),
      idleFilled: 0,
    };
    this.#streams.set(p.id, stream);
    consumer.on('rtp', (packet) => this.#onRtp(stream, packet));
    consumer.observer.on('close', () => this.#untap(p.id));
    this.logger.debug('tap() | producer tapped', {
      roomId: this.roomId,
      producerId: p.id,
      peerId: p.peerId,
    });
    this.safeEmit('streamstarted', { producerId: p.id, peerId: p.peerId });
  }

  #onRtp(stream: Stream, packet: Buffer): void {
    const t0 = performance.now();
    stream.lastActivity = t0;
    stream.idleFilled = 0;
    this.#emitPcm(stream, stream.receiver.push(packet), t0);
  }

  #emitPcm(stream: Stream, pcm48: Float32Array, t0: number): void {
    const samples = pcm48.length > 0 ? stream.resampler.process(pcm48) : pcm48;
    stream.info.stats.cpuMs += performance.now() - t0;
    if (samples.length === 0) return;
    stream.info.stats.samples += samples.length;
    this.safeEmit('audio', {
      producerId: stream.info.producerId,
      peerId: stream.info.peerId,
      samples,
    });
  }

  #tick(): void {
    const now = performance.now();
    const { jitterMs, idleFillMs, tickMs } = this.#options;
    const late = now - this.#lastTick - tickMs;
    this.#lastTick = now;
    // This process was stalled: packets are probably queued behind this timer, not missing.
    if (late > tickMs) return;
    for (const stream of this.#streams.values()) {
      const idle = now - stream.lastActivity;
      if (idle < jitterMs || stream.idleFilled >= idleFillMs) continue;
      const ms = Math.min(idle, idleFillMs - stream.idleFilled);
      stream.idleFilled += ms;
      stream.lastActivity = now;
      this.#emitPcm(stream, stream.receiver.advance((ms * OPUS_RTP_CLOCK_RATE) / 1000), now);
    }
  }

  #untap(producerId: string): void {
    const stream = this.#streams.get(producerId);
    if (!stream) return;
    this.#streams.delete(producerId);
    const t0 = performance.now();
    const rest = stream.receiver.flush();
    const head = rest.length > 0 ? stream.resampler.process(rest) : rest;
    const tail = stream.resampler.flush();
    const last = new Float32Array(head.length + tail.length);
    last.set(head, 0);
    last.set(tail, head.length);
    stream.info.stats.cpuMs += performance.now() - t0;
    if (last.length > 0) {
      stream.info.stats.samples += last.length;
      this.safeEmit('audio', {
        producerId,
        peerId: stream.info.peerId,
        samples: last,
      });
    }
    stream.receiver.close();
    if (!stream.consumer.closed) stream.consumer.close();
    this.logger.debug('untap() | stream ended', {
      roomId: this.roomId,
      producerId,
      packets: stream.info.stats.received,
      lost: stream.info.stats.lost,
    });
    this.safeEmit('streamended', {
      producerId,
      peerId: stream.info.peerId,
      stats: stream.info.stats,
    });
  }
}
