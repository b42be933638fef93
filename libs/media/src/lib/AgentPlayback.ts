/**
 * Speech played into a room by the server: a peer (`agent` by default) whose audio producer lives
 * on a DirectTransport. Speech requests queue per room; each is a stream of PCM chunks (any rate),
 * resampled to 48 kHz, cut into 20 ms frames, Opus-encoded and sent as RTP at real-time pace
 * (absolute schedule, so timer jitter does not accumulate). Between requests nothing is sent; the
 * RTP timestamps still follow the wall clock, so receivers' jitter buffers stay in sync.
 *
 * Usage:
 * ```ts
 * const playback = new AgentPlayback(room, { peerId: 'agent' });
 * playback.on('started', ({ id, firstPacketAt }) => …);     // first RTP packet of a request sent
 * playback.on('ended', ({ id, reason, playedMs }) => …);    // done | cancelled | barge_in | error
 * const { producerId, queued } = await playback.enqueue({ id: 'say-1', source: pcmChunks() });
 * playback.stop('say-1');                    // or stopAll('barge_in'); enqueue({ interrupt: true })
 * playback.close();                          // also when the room closes
 * ```
 *
 * The agent joins the room lazily (first request) and leaves when the last other peer has left
 * and nothing is playing, so an empty room can still go idle; the next request joins it again.
 */
import { OpusRtpSender, Resampler, int16ToFloat32, warmUpOpus } from '@parley/audio';
import type { types as ms } from 'mediasoup';

import { MediaError, toMediaError } from './MediaError';
import { silentLogger, type MediaLogger } from './MediaLogger';
import type { Peer } from './Peer';
import type { Room } from './Room';
import { TypedEmitter } from './TypedEmitter';

/** A piece of speech audio: mono PCM at `sampleRate`. */
export interface PcmChunk {
  samples: Int16Array | Float32Array;
  sampleRate: number;
}

/** Why a speech request ended. */
export type PlaybackEndReason = 'done' | 'cancelled' | 'barge_in' | 'error';

/** A speech request. */
export interface PlaybackRequest {
  /** Unique among the room's queued requests. */
  id: string;
  /** The audio, pulled as fast as it comes (buffered up to `maxBufferMs` ahead of playback). */
  source: AsyncIterable<PcmChunk>;
  /** Stop what is playing and drop the queue first. */
  interrupt?: boolean;
}

/** Events of an {@link AgentPlayback}. */
export type AgentPlaybackEvents = {
  /** The first RTP packet of a request was sent. */
  started: [{ id: string; producerId: string; firstPacketAt: number }];
  /** A request ended; `error` is set for reason `error` (its source threw). */
  ended: [
    {
      id: string;
      producerId: string;
      reason: PlaybackEndReason;
      playedMs: number;
      endedAt: number;
      error?: Error;
    },
  ];
  closed: [];
};

/** Options of {@link AgentPlayback}. */
export interface AgentPlaybackOptions {
  /** Peer id of the agent; default `agent`. */
  peerId?: string;
  /** Display data of the agent peer. */
  appData?: Record<string, unknown>;
  /** Opus bitrate; default 32000. */
  bitrate?: number;
  /** Audio pulled ahead of playback before the source is paused; default 10000 ms. */
  maxBufferMs?: number;
  /** More behind schedule than this (event-loop stall) and the schedule restarts; default 200 ms. */
  maxLagMs?: number;
  logger?: MediaLogger;
}

const FRAME = 960; // 20 ms at 48 kHz
const FRAME_MS = 20;
const PAYLOAD_TYPE = 100;

interface Item {
  id: string;
  source: AsyncIterable<PcmChunk>;
  iterator?: AsyncIterator<PcmChunk>;
  frames: Int16Array[];
  /** Partial frame being filled. */
  partial: Int16Array;
  fill: number;
  /** Source exhausted (all its frames are queued). */
  complete: boolean;
  sent: number;
  started: boolean;
  ended: boolean;
  /** Wakes the feeder when the buffer drained below the low-water mark. */
  wake?: () => void;
}

/**
 * The server-side speaker of one room. `close()` is idempotent; requests after it fail with
 * `ROOM_CLOSED`/`INVALID_STATE`.
 */
export class AgentPlayback extends TypedEmitter<AgentPlaybackEvents> {
  readonly peerId: string;
  readonly #room: Room;
  readonly #options: AgentPlaybackOptions;
  readonly #queue: Item[] = [];
  #peer?: Peer;
  #producer?: ms.Producer;
  #sender?: OpusRtpSender;
  #opening?: Promise<ms.Producer>;
  #timer?: NodeJS.Timeout;
  /** Schedule origin (performance.now) and frames sent since it. */
  #t0 = 0;
  #k = 0;
  /** performance.now() when the last packet's audio ends (its send time + 20 ms). */
  #lastEnd = 0;
  /** Frames are being sent back to back (no starvation or idle since the schedule origin). */
  #streaming = false;
  #closed = false;
  readonly #unlisten: () => void;

  constructor(room: Room, options: AgentPlaybackOptions = {}) {
    super(options.logger ?? silentLogger);
    this.#room = room;
    this.#options = options;
    this.peerId = options.peerId ?? 'agent';
    const onPeerLeft = () => this.#maybeLeave();
    const onClosed = () => this.close();
    room.on('peerleft', onPeerLeft);
    room.on('closed', onClosed);
    this.#unlisten = () => {
      room.off('peerleft', onPeerLeft);
      room.off('closed', onClosed);
    };
  }

  /** Id of the agent's producer, if open. */
  get producerId(): string | undefined {
    return this.#producer && !this.#producer.closed ? this.#producer.id : undefined;
  }

  /** Requests queued or playing. */
  get size(): number {
    return this.#queue.length;
  }

  /** Id of the request playing (or about to), if any. */
  get current(): string | undefined {
    return this.#queue[0]?.id;
  }

  /** Whether audio is being sent now (a request started and has not ended). */
  get playing(): boolean {
    return this.#queue[0]?.started === true;
  }

  /** Opens the agent's producer (joining the room) if needed; returns its id. */
  async open(): Promise<string> {
    return (await this.#ensureProducer()).id;
  }

  /**
   * Queues a speech request (after stopping everything with `interrupt`). Resolves once the
   * producer is open, with the number of requests ahead of this one.
   */
  async enqueue(request: PlaybackRequest): Promise<{ producerId: string; queued: number }> {
    this.#assertOpen();
    if (this.#queue.some((i) => i.id === request.id)) {
      throw new MediaError('ALREADY_EXISTS', `speech "${request.id}" is already queued`);
    }
    const producer = await this.#ensureProducer();
    this.#assertOpen();
    if (request.interrupt) this.stopAll('cancelled');
    const item: Item = {
      id: request.id,
      source: request.source,
      frames: [],
      partial: new Int16Array(FRAME),
      fill: 0,
      complete: false,
      sent: 0,
      started: false,
      ended: false,
    };
    this.#queue.push(item);
    const queued = this.#queue.length - 1;
    if (queued === 0) this.#startItem(item);
    return { producerId: producer.id, queued };
  }

  /** Stops one request (playing or queued). Returns whether it was found. */
  stop(id: string, reason: PlaybackEndReason = 'cancelled'): boolean {
    const item = this.#queue.find((i) => i.id === id);
    if (!item) return false;
    this.#end(item, reason);
    return true;
  }

  /** Stops the request playing and drops the queue. Returns how many requests ended. */
  stopAll(reason: PlaybackEndReason = 'cancelled'): number {
    const items = [...this.#queue];
    // Queued ones first, so the playing one's end does not start the next.
    for (const item of items.slice(1)) this.#end(item, reason);
    if (items[0]) this.#end(items[0], reason);
    return items.length;
  }

  /** Stops everything and closes the producer and the agent peer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.stopAll('cancelled');
    this.#closed = true;
    this.#unlisten();
    clearTimeout(this.#timer);
    this.#closeProducer();
    this.safeEmit('closed');
    this.removeAllListeners();
  }

  #assertOpen(): void {
    if (this.#closed) throw new MediaError('INVALID_STATE', 'playback is closed');
    if (this.#room.closed) throw new MediaError('ROOM_CLOSED', `room "${this.#room.id}" is closed`);
  }

  async #ensureProducer(): Promise<ms.Producer> {
    if (this.#producer && !this.#producer.closed) return this.#producer;
    if (!this.#opening) {
      this.#opening = this.#openProducer().finally(() => {
        this.#opening = undefined;
      });
    }
    return this.#opening;
  }

  async #openProducer(): Promise<ms.Producer> {
    const peer = await this.#room.getOrJoin(this.peerId, {
      appData: { agent: true, ...this.#options.appData },
    });
    const ssrc = (Math.random() * 0xffffffff) >>> 0 || 1;
    let producer: ms.Producer;
    try {
      producer = await peer.produceDirect({
        kind: 'audio',
        rtpParameters: {
          codecs: [
            {
              mimeType: 'audio/opus',
              clockRate: 48_000,
              channels: 2,
              payloadType: PAYLOAD_TYPE,
              parameters: { useinbandfec: 1, 'sprop-stereo': 0 },
              rtcpFeedback: [],
            },
          ],
          encodings: [{ ssrc }],
        },
        appData: { agent: true },
      });
    } catch (err) {
      throw toMediaError(err);
    }
    if (this.#closed) {
      producer.close();
      this.#assertOpen();
    }
    this.#peer = peer;
    this.#producer = producer;
    this.#sender?.close();
    warmUpOpus();
    this.#sender = new OpusRtpSender({
      ssrc,
      payloadType: PAYLOAD_TYPE,
      bitrate: this.#options.bitrate ?? 32_000,
    });
    this.#lastEnd = performance.now();
    producer.observer.on('close', () => {
      if (this.#producer !== producer) return;
      // Gone under us (peer left, room closed): what plays cannot continue.
      this.#producer = undefined;
      this.stopAll('cancelled');
    });
    this.logger.debug('open() | agent producer open', {
      roomId: this.#room.id,
      producerId: producer.id,
    });
    return producer;
  }

  #closeProducer(): void {
    const peer = this.#peer;
    this.#peer = undefined;
    this.#producer = undefined;
    this.#sender?.close();
    this.#sender = undefined;
    if (peer && !peer.closed) peer.close();
  }

  /** Leaves the room when only the agent is left and nothing plays. */
  #maybeLeave(): void {
    if (this.#queue.length > 0 || !this.#peer || this.#peer.closed) return;
    if (this.#room.closed) return;
    if (this.#room.peers().some((p) => p.id !== this.peerId)) return;
    this.#closeProducer();
  }

  #startItem(item: Item): void {
    void this.#feed(item);
    this.#schedule(0);
  }

  /** Pulls the source into frames, pausing while `maxBufferMs` is buffered. */
  async #feed(item: Item): Promise<void> {
    const maxFrames = Math.max(5, Math.round((this.#options.maxBufferMs ?? 10_000) / FRAME_MS));
    let resampler: Resampler | undefined;
    try {
      item.iterator = item.source[Symbol.asyncIterator]();
      for (;;) {
        if (item.ended) return;
        if (item.frames.length > maxFrames) {
          await new Promise<void>((resolve) => (item.wake = resolve));
          item.wake = undefined;
          continue;
        }
        const next = await item.iterator.next();
        if (item.ended) return;
        if (next.done) break;
        const { samples, sampleRate } = next.value;
        if (!Number.isInteger(sampleRate) || sampleRate < 4000 || sampleRate > 192_000) {
          throw new MediaError('BAD_REQUEST', `unsupported sample rate ${sampleRate}`);
        }
        const f32 = samples instanceof Float32Array ? samples : int16ToFloat32(samples);
        if (sampleRate !== 48_000 && resampler?.fromRate !== sampleRate) {
          if (resampler) this.#push(item, resampler.flush());
          resampler = new Resampler(sampleRate, 48_000);
        }
        this.#push(item, resampler && sampleRate !== 48_000 ? resampler.process(f32) : f32);
        if (!this.#timer) this.#schedule(0);
        // A source that yields synchronously must not keep the sender from its first packet.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (resampler) this.#push(item, resampler.flush());
      if (item.fill > 0) {
        item.partial.fill(0, item.fill);
        item.frames.push(item.partial);
        item.fill = 0;
      }
      item.complete = true;
      this.#schedule(0);
    } catch (err) {
      if (item.ended) return;
      const error = err instanceof Error ? err : new Error(String(err));
      this.#end(item, 'error', error);
    }
  }

  #push(item: Item, pcm: Float32Array): void {
    for (let i = 0; i < pcm.length; i++) {
      const v = Math.round((pcm[i] ?? 0) * 32768);
      item.partial[item.fill++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      if (item.fill === FRAME) {
        item.frames.push(item.partial);
        item.partial = new Int16Array(FRAME);
        item.fill = 0;
      }
    }
  }

  #schedule(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#pump(), Math.max(0, delayMs));
  }

  /** Sends every frame that is due, then sleeps until the next one is. */
  #pump(): void {
    this.#timer = undefined;
    const item = this.#queue[0];
    const producer = this.#producer;
    const sender = this.#sender;
    if (!item || this.#closed) return;
    if (!producer || producer.closed || !sender) {
      this.#end(item, 'error', new MediaError('INVALID_STATE', 'agent producer is closed'));
      return;
    }
    const now = performance.now();
    if (item.frames.length === 0) {
      // Starved (the source is slower than real time) or finished: the talkspurt pauses.
      this.#streaming = false;
      if (item.complete) this.#end(item, 'done');
      // else: the feeder reschedules when frames come.
      return;
    }
    if (!this.#streaming) {
      this.#streaming = true;
      if (now >= this.#lastEnd) {
        // A new talkspurt: schedule from now; the RTP timestamp jumps over the silent time.
        const gap = now - this.#lastEnd;
        if (gap > 1) sender.skip(Math.round((gap * 48_000) / 1000));
        this.#t0 = now;
        this.#k = 0;
      }
      // else: frames came back before the last one finished playing: carry on the schedule.
    } else if (now - (this.#t0 + this.#k * FRAME_MS) > (this.#options.maxLagMs ?? 200)) {
      // The event loop stalled: restart the schedule rather than burst the backlog.
      this.#t0 = now;
      this.#k = 0;
    }
    while (item.frames.length > 0 && this.#t0 + this.#k * FRAME_MS <= now + 1) {
      const frame = item.frames.shift() as Int16Array;
      let packets: Uint8Array[];
      try {
        packets = sender.push(frame);
      } catch (err) {
        this.#end(item, 'error', err instanceof Error ? err : new Error(String(err)));
        return;
      }
      try {
        for (const p of packets) producer.send(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
      } catch (err) {
        this.#end(item, 'error', toMediaError(err));
        return;
      }
      this.#k++;
      item.sent++;
      this.#lastEnd = this.#t0 + this.#k * FRAME_MS;
      if (!item.started) {
        item.started = true;
        this.safeEmit('started', {
          id: item.id,
          producerId: producer.id,
          firstPacketAt: Date.now(),
        });
      }
    }
    if (item.wake && item.frames.length < 250) item.wake();
    if (item.frames.length === 0 && item.complete) {
      // Ended once its last packet's audio has played out.
      this.#schedule(this.#lastEnd - performance.now());
      return;
    }
    this.#schedule(this.#t0 + this.#k * FRAME_MS - performance.now());
  }

  #end(item: Item, reason: PlaybackEndReason, error?: Error): void {
    if (item.ended) return;
    item.ended = true;
    const index = this.#queue.indexOf(item);
    if (index >= 0) this.#queue.splice(index, 1);
    item.frames = [];
    item.wake?.();
    // Tell the source to stop (a TTS stream cancels its synthesis).
    void item.iterator?.return?.()?.catch(() => undefined);
    if (index === 0) {
      this.#streaming = false;
      if (reason !== 'done') this.#sender?.discard();
    }
    this.safeEmit('ended', {
      id: item.id,
      producerId: this.#producer?.id ?? '',
      reason,
      playedMs: item.sent * FRAME_MS,
      endedAt: Date.now(),
      ...(error ? { error } : {}),
    });
    if (index === 0) {
      const next = this.#queue[0];
      if (next) this.#startItem(next);
      else if (!this.#closed) this.#maybeLeave();
    }
  }
}
