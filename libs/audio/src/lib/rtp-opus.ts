/**
 * RTP/Opus ⇄ PCM for one audio stream, both ways:
 *
 * - {@link OpusRtpReceiver}: raw RTP packets in (any order, with loss, DTX gaps, SSRC changes) →
 *   continuous 48 kHz mono Float32 PCM out. Reordering by {@link RtpReorderBuffer}; lost packets
 *   are concealed by Opus PLC (up to `maxConcealMs`), silence (DTX, pauses) is zero-filled up to
 *   `maxGapMs`; a corrupt packet is concealed too and counted.
 * - {@link OpusRtpSender}: PCM of any chunk size in → 20 ms Opus frames → RTP packets with
 *   consecutive sequence numbers and sample-accurate timestamps.
 *
 * Usage:
 * ```ts
 * const rx = new OpusRtpReceiver();
 * consumer.on('rtp', (buf) => vad.push(resampler.process(rx.push(buf))));  // 48 kHz Float32
 * rx.advance(4800);           // no packets for 100 ms (paused): move the timeline on with silence
 *
 * const tx = new OpusRtpSender({ ssrc, payloadType: 100 });
 * for (const packet of tx.push(pcm48k)) producer.send(Buffer.from(packet));   // 20 ms each
 * tx.skip(48_000 * seconds);  // time passed without sending: next packet has the right timestamp
 * ```
 */
import { float32ToInt16, int16ToFloat32 } from './pcm';
import {
  createOpusDecoder,
  createOpusEncoder,
  type OpusDecoder,
  type OpusEncoder,
  type OpusEncoderOptions,
  opusPacketSamples,
} from './opus';
import {
  parseRtp,
  type RtpPacket,
  RtpPacketizer,
  RtpReorderBuffer,
  type RtpReorderStats,
} from './rtp';

/** Clock rate of Opus over RTP (RFC 7587), whatever the audio bandwidth. */
export const OPUS_RTP_CLOCK_RATE = 48_000;

/** Counters of an {@link OpusRtpReceiver}. */
export interface OpusRtpReceiverStats extends RtpReorderStats {
  /** Buffers that were not RTP (or had another payload type). */
  parseErrors: number;
  /** Packets libopus refused (concealed instead). */
  decodeErrors: number;
  /** Samples (48 kHz) produced by packet loss concealment. */
  concealedSamples: number;
  /** Samples (48 kHz) of silence inserted for timeline gaps (DTX, pauses, `advance`). */
  silenceSamples: number;
  /** Samples (48 kHz) decoded from packets and output. */
  decodedSamples: number;
  /** Samples (48 kHz) of packets dropped because their time was already filled (`advance`). */
  trimmedSamples: number;
}

/** Options of {@link OpusRtpReceiver}. */
export interface OpusRtpReceiverOptions {
  /** Only this payload type is decoded (others count as parse errors); default any. */
  payloadType?: number;
  /** Reorder depth in packets; default 3 (60 ms). */
  reorderDepth?: number;
  /** Longest stretch of lost audio that is concealed; beyond it, silence. Default 100 ms. */
  maxConcealMs?: number;
  /** Longest timeline gap filled with silence; longer gaps are cut to this. Default 1000 ms. */
  maxGapMs?: number;
  /** Decoder to use (tests); default a 48 kHz mono Opus decoder. */
  decoder?: OpusDecoder;
}

/** Audio behind the timeline cursor that is trimmed as overlap (200 ms); more is a discontinuity. */
const MAX_OVERLAP = 9600;

/** Signed difference `a - b` of two 32-bit RTP timestamps. */
function tsDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/**
 * Turns one incoming Opus RTP stream into continuous 48 kHz mono PCM. The output timeline is the
 * sender's RTP timeline (gaps filled), so `samplesOut / 48000` is stream time in seconds, and
 * `samplesOut = decodedSamples + concealedSamples + silenceSamples`.
 */
export class OpusRtpReceiver {
  readonly stats: OpusRtpReceiverStats;
  readonly #reorder: RtpReorderBuffer;
  readonly #decoder: OpusDecoder;
  readonly #payloadType?: number;
  readonly #maxConceal: number;
  readonly #maxGap: number;
  /** RTP timestamp of the next output sample; undefined before the first packet. */
  #cursor?: number;
  /** Duration of the last packet, the guess for a lost one's. */
  #frame = 960;
  #pendingLost = 0;
  #samplesOut = 0;
  #closed = false;

  constructor(options: OpusRtpReceiverOptions = {}) {
    this.#reorder = new RtpReorderBuffer({ depth: options.reorderDepth ?? 3 });
    this.#decoder = options.decoder ?? createOpusDecoder({ sampleRate: 48_000, channels: 1 });
    this.#payloadType = options.payloadType;
    this.#maxConceal = Math.round(((options.maxConcealMs ?? 100) * OPUS_RTP_CLOCK_RATE) / 1000);
    this.#maxGap = Math.round(((options.maxGapMs ?? 1000) * OPUS_RTP_CLOCK_RATE) / 1000);
    this.stats = Object.assign(this.#reorder.stats, {
      parseErrors: 0,
      decodeErrors: 0,
      concealedSamples: 0,
      silenceSamples: 0,
      decodedSamples: 0,
      trimmedSamples: 0,
    });
  }

  /** Samples output so far (48 kHz): the stream time of the next sample. */
  get samplesOut(): number {
    return this.#samplesOut;
  }

  /** Feeds one raw RTP packet; returns the PCM it completes (often 20 ms, maybe none). */
  push(bytes: Uint8Array): Float32Array {
    if (this.#closed) return new Float32Array(0);
    let packet: RtpPacket;
    try {
      packet = parseRtp(bytes);
    } catch {
      this.stats.parseErrors++;
      return new Float32Array(0);
    }
    if (this.#payloadType !== undefined && packet.payloadType !== this.#payloadType) {
      this.stats.parseErrors++;
      return new Float32Array(0);
    }
    const parts: Int16Array[] = [];
    for (const item of this.#reorder.push(packet)) {
      if (item.kind === 'lost') this.#pendingLost += item.count;
      else this.#play(item.packet, parts);
    }
    return this.#out(parts);
  }

  /**
   * Moves the timeline on by `samples` of silence (48 kHz) while no packets come (a paused or
   * muted producer), so a VAD downstream sees the silence in real time. Packets arriving later for
   * that time are trimmed.
   */
  advance(samples: number): Float32Array {
    const n = Math.max(0, Math.floor(samples));
    if (this.#closed || n === 0 || this.#cursor === undefined) return new Float32Array(0);
    this.#cursor = (this.#cursor + n) >>> 0;
    this.stats.silenceSamples += n;
    this.#samplesOut += n;
    return new Float32Array(n);
  }

  /** Releases held packets (stream ended); returns their PCM. */
  flush(): Float32Array {
    if (this.#closed) return new Float32Array(0);
    const parts: Int16Array[] = [];
    for (const item of this.#reorder.flush()) {
      if (item.kind === 'lost') this.#pendingLost += item.count;
      else this.#play(item.packet, parts);
    }
    return this.#out(parts);
  }

  /** Frees the decoder. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#decoder.close();
  }

  #out(parts: Int16Array[]): Float32Array {
    if (parts.length === 1 && parts[0]) return int16ToFloat32(parts[0]);
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Float32Array(n);
    let o = 0;
    for (const p of parts) {
      for (let i = 0; i < p.length; i++) out[o + i] = (p[i] ?? 0) / 32768;
      o += p.length;
    }
    return out;
  }

  #emit(parts: Int16Array[], pcm: Int16Array): void {
    if (pcm.length === 0) return;
    parts.push(pcm);
    this.#samplesOut += pcm.length;
  }

  #play(packet: RtpPacket, parts: Int16Array[]): void {
    const lost = this.#pendingLost;
    this.#pendingLost = 0;
    if (this.#cursor === undefined) this.#cursor = packet.timestamp;
    let gap = tsDiff(packet.timestamp, this.#cursor);
    // Far behind the cursor: the sender's clock restarted or stood still while it did not send
    // (a replaced track, a new SSRC): a discontinuity, not audio to trim. Resynchronise.
    if (gap < -MAX_OVERLAP) gap = 0;
    if (gap > 0) {
      // Lost packets first (concealed), the rest of the gap is silence the sender did not send.
      const conceal = Math.min(gap, lost * this.#frame, this.#maxConceal);
      if (conceal > 0) {
        this.#emit(parts, this.#decoder.conceal(conceal));
        this.stats.concealedSamples += conceal;
        gap -= conceal;
      }
      const silence = Math.min(gap, this.#maxGap);
      if (silence > 0) {
        this.#emit(parts, new Int16Array(silence));
        this.stats.silenceSamples += silence;
      }
    }
    let pcm: Int16Array;
    let decoded = true;
    try {
      pcm = this.#decoder.decode(packet.payload);
    } catch {
      this.stats.decodeErrors++;
      decoded = false;
      pcm = this.#decoder.conceal(
        opusPacketSamples(packet.payload, OPUS_RTP_CLOCK_RATE) ?? this.#frame,
      );
    }
    if (pcm.length > 0) this.#frame = pcm.length;
    // Behind the cursor (after `advance`, or a timestamp going back): keep only the new part.
    const overlap = gap < 0 ? Math.min(-gap, pcm.length) : 0;
    this.stats.trimmedSamples += overlap;
    if (decoded) this.stats.decodedSamples += pcm.length - overlap;
    else this.stats.concealedSamples += pcm.length - overlap;
    this.#emit(parts, overlap > 0 ? pcm.subarray(overlap) : pcm);
    const end = (packet.timestamp + pcm.length) >>> 0;
    if (tsDiff(end, this.#cursor) > 0 || gap >= 0) this.#cursor = end;
  }
}

/** Options of {@link OpusRtpSender}. */
export interface OpusRtpSenderOptions extends Pick<
  OpusEncoderOptions,
  'bitrate' | 'complexity' | 'application'
> {
  ssrc: number;
  payloadType: number;
  /** First sequence number / timestamp (default random). */
  sequenceNumber?: number;
  timestamp?: number;
  /** Encoder to use (tests); default 48 kHz mono, 20 ms. */
  encoder?: OpusEncoder;
}

/**
 * Frames 48 kHz mono PCM into 20 ms, encodes Opus and packetises RTP. A partial frame is kept
 * until more PCM comes, or padded with silence by {@link OpusRtpSender.end}.
 */
export class OpusRtpSender {
  readonly frameSamples: number;
  readonly #encoder: OpusEncoder;
  readonly #rtp: RtpPacketizer;
  readonly #frame: Int16Array;
  #fill = 0;
  #closed = false;

  constructor(options: OpusRtpSenderOptions) {
    this.#encoder =
      options.encoder ??
      createOpusEncoder({
        sampleRate: 48_000,
        channels: 1,
        frameMs: 20,
        application: options.application ?? 'voip',
        bitrate: options.bitrate,
        complexity: options.complexity,
      });
    this.frameSamples = this.#encoder.frameSamples;
    this.#frame = new Int16Array(this.frameSamples);
    this.#rtp = new RtpPacketizer({
      ssrc: options.ssrc,
      payloadType: options.payloadType,
      sequenceNumber: options.sequenceNumber,
      timestamp: options.timestamp,
    });
  }

  /** The packetiser (sequence number / timestamp of the next packet). */
  get rtp(): RtpPacketizer {
    return this.#rtp;
  }

  /** Samples waiting for a complete frame. */
  get pending(): number {
    return this.#fill;
  }

  /** Adds PCM (Float32 in [-1, 1] or Int16); returns one RTP packet per completed 20 ms frame. */
  push(pcm: Float32Array | Int16Array): Uint8Array[] {
    if (this.#closed) return [];
    const samples = pcm instanceof Float32Array ? float32ToInt16(pcm) : pcm;
    const packets: Uint8Array[] = [];
    let off = 0;
    while (off < samples.length) {
      const take = Math.min(this.frameSamples - this.#fill, samples.length - off);
      this.#frame.set(samples.subarray(off, off + take), this.#fill);
      this.#fill += take;
      off += take;
      if (this.#fill === this.frameSamples) {
        packets.push(this.#rtp.packetize(this.#encoder.encode(this.#frame), this.frameSamples));
        this.#fill = 0;
      }
    }
    return packets;
  }

  /** Pads the partial frame with silence and returns its packet (none if nothing is pending). */
  end(): Uint8Array[] {
    if (this.#closed || this.#fill === 0) return [];
    this.#frame.fill(0, this.#fill);
    this.#fill = 0;
    return [this.#rtp.packetize(this.#encoder.encode(this.#frame), this.frameSamples)];
  }

  /** Drops the partial frame (playback stopped mid-frame). */
  discard(): void {
    this.#fill = 0;
  }

  /** `samples` (48 kHz) pass without packets: keeps timestamps on the wall clock. */
  skip(samples: number): void {
    this.#rtp.skip(samples);
  }

  /** Frees the encoder. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#encoder.close();
  }
}
