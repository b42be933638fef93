/**
 * RTP (RFC 3550) for audio: parse/serialise packets, a packetiser with correct sequence numbers
 * and timestamps for a sender, and a small reorder buffer with loss detection for a receiver.
 *
 * Usage:
 * ```ts
 * // sender: one packet per 20 ms Opus frame; after a pause, skip() the silent time
 * const tx = new RtpPacketizer({ ssrc, payloadType: 100 });
 * const bytes = tx.packetize(opusPacket, 960);              // Uint8Array, ready for producer.send()
 * tx.skip(48_000);                                          // 1 s not sent: timestamp jumps, marker set
 *
 * // receiver: whatever order the packets come in, out they come in order, gaps reported
 * const rx = new RtpReorderBuffer({ depth: 3 });
 * for (const item of rx.push(parseRtp(bytes))) item.kind === 'packet' ? use(item.packet) : conceal(item.count);
 * ```
 */

/** A parsed RTP packet. `payload` is a view into the input buffer (no copy). */
export interface RtpPacket {
  payloadType: number;
  /** 16-bit sequence number as on the wire. */
  sequenceNumber: number;
  /** 32-bit timestamp (unsigned). */
  timestamp: number;
  ssrc: number;
  marker: boolean;
  csrcs: number[];
  /** Header extension (profile and raw data), if the X bit was set. */
  extension?: { profile: number; data: Uint8Array };
  payload: Uint8Array;
}

/** Why a buffer is not an RTP packet. */
export class RtpParseError extends Error {
  override readonly name = 'RtpParseError';
}

const HEADER = 12;

/**
 * Parses an RTP packet: 12-byte fixed header, CSRC list and header extension skipped (and
 * returned), padding removed. Throws {@link RtpParseError} for anything malformed (wrong version,
 * truncated header/CSRC/extension, bad padding) — an RTCP packet included.
 */
export function parseRtp(buf: Uint8Array): RtpPacket {
  if (buf.length < HEADER)
    throw new RtpParseError(`${buf.length} bytes: shorter than an RTP header`);
  const b0 = buf[0] ?? 0;
  const b1 = buf[1] ?? 0;
  if (b0 >> 6 !== 2) throw new RtpParseError(`RTP version ${b0 >> 6}, expected 2`);
  const payloadType = b1 & 0x7f;
  // RTCP packet types 200..204 have the marker bit set in this byte position (RFC 5761 §4).
  if (payloadType >= 72 && payloadType <= 76) throw new RtpParseError('RTCP, not RTP');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const cc = b0 & 0x0f;
  let off = HEADER + cc * 4;
  if (buf.length < off) throw new RtpParseError('truncated CSRC list');
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(view.getUint32(HEADER + i * 4));
  let extension: RtpPacket['extension'];
  if (b0 & 0x10) {
    if (buf.length < off + 4) throw new RtpParseError('truncated header extension');
    const profile = view.getUint16(off);
    const words = view.getUint16(off + 2);
    const start = off + 4;
    off = start + words * 4;
    if (buf.length < off) throw new RtpParseError('truncated header extension');
    extension = { profile, data: buf.subarray(start, off) };
  }
  let end = buf.length;
  if (b0 & 0x20) {
    const pad = buf[end - 1] ?? 0;
    if (pad === 0 || end - pad < off) throw new RtpParseError('bad padding');
    end -= pad;
  }
  return {
    payloadType,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    marker: (b1 & 0x80) !== 0,
    csrcs,
    ...(extension ? { extension } : {}),
    payload: buf.subarray(off, end),
  };
}

/** Serialises an RTP packet (no CSRCs, no extension, no padding: what a simple sender needs). */
export function serializeRtp(p: {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker?: boolean;
  payload: Uint8Array;
}): Uint8Array {
  const out = new Uint8Array(HEADER + p.payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0x80;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  view.setUint16(2, p.sequenceNumber & 0xffff);
  view.setUint32(4, p.timestamp >>> 0);
  view.setUint32(8, p.ssrc >>> 0);
  out.set(p.payload, HEADER);
  return out;
}

/** Options of {@link RtpPacketizer}. */
export interface RtpPacketizerOptions {
  ssrc: number;
  payloadType: number;
  /** First sequence number; default random (RFC 3550 §5.1). */
  sequenceNumber?: number;
  /** First timestamp; default random. */
  timestamp?: number;
}

/**
 * Stamps payloads with consecutive sequence numbers (wrapping at 2^16) and media timestamps
 * (wrapping at 2^32). The first packet, and the first after {@link RtpPacketizer.skip}, carries
 * the marker bit (start of a talkspurt, RFC 3551 §4.1).
 */
export class RtpPacketizer {
  readonly ssrc: number;
  readonly payloadType: number;
  #seq: number;
  #ts: number;
  #marker = true;
  #packets = 0;

  constructor(options: RtpPacketizerOptions) {
    this.ssrc = options.ssrc >>> 0;
    this.payloadType = options.payloadType;
    this.#seq = (options.sequenceNumber ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
    this.#ts = (options.timestamp ?? Math.floor(Math.random() * 0x100000000)) >>> 0;
  }

  /** Sequence number of the next packet. */
  get sequenceNumber(): number {
    return this.#seq;
  }

  /** Timestamp of the next packet. */
  get timestamp(): number {
    return this.#ts;
  }

  /** Packets stamped so far. */
  get packets(): number {
    return this.#packets;
  }

  /** One RTP packet for `payload`, which lasts `samples` (clock-rate units). */
  packetize(payload: Uint8Array, samples: number): Uint8Array {
    const bytes = serializeRtp({
      payloadType: this.payloadType,
      sequenceNumber: this.#seq,
      timestamp: this.#ts,
      ssrc: this.ssrc,
      marker: this.#marker,
      payload,
    });
    this.#marker = false;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#ts = (this.#ts + samples) >>> 0;
    this.#packets++;
    return bytes;
  }

  /**
   * Time passes without packets (silence not sent): the timestamp advances, the sequence number
   * does not (nothing was lost), and the next packet starts a talkspurt.
   */
  skip(samples: number): void {
    if (samples <= 0) return;
    this.#ts = (this.#ts + Math.round(samples)) >>> 0;
    this.#marker = true;
  }
}

/** What {@link RtpReorderBuffer} releases, in sequence order. */
export type RtpReorderItem =
  | { kind: 'packet'; packet: RtpPacket; /** Extended (unwrapped) sequence number. */ seq: number }
  | { kind: 'lost'; /** Packets missing before the next released one. */ count: number };

/** Counters of a {@link RtpReorderBuffer}. */
export interface RtpReorderStats {
  received: number;
  released: number;
  lost: number;
  /** Arrived after a later packet (and in time to be put back in order). */
  reordered: number;
  duplicates: number;
  /** Arrived after their slot was released (counted lost, then dropped). */
  late: number;
  /** The stream jumped (new SSRC or a huge sequence gap) and the buffer started over. */
  resets: number;
}

/** Options of {@link RtpReorderBuffer}. */
export interface RtpReorderBufferOptions {
  /**
   * Packets held while waiting for a missing one (each 20 ms of audio, so 3 = 60 ms of added
   * latency at most, and only while a gap is open). Default 3.
   */
  depth?: number;
  /** A sequence jump beyond this (either way) is a restarted stream, not loss. Default 1000. */
  maxJump?: number;
}

const SEQ_MOD = 0x10000;

/**
 * Puts RTP packets back in sequence order, with 16-bit wrap-around handled by extending sequence
 * numbers (RFC 3550 A.1). In-order packets pass straight through; when one is missing, later ones
 * wait until it arrives or `depth` packets are held, then the gap is released as `lost` (so the
 * decoder can conceal it). Duplicates and packets older than what was released are dropped.
 */
export class RtpReorderBuffer {
  readonly #depth: number;
  readonly #maxJump: number;
  readonly #held = new Map<number, RtpPacket>();
  #ssrc?: number;
  #started = false;
  /** Extended sequence number expected next. */
  #next = 0;
  /** Highest extended sequence number seen (for unwrapping). */
  #highest = 0;
  readonly stats: RtpReorderStats = {
    received: 0,
    released: 0,
    lost: 0,
    reordered: 0,
    duplicates: 0,
    late: 0,
    resets: 0,
  };

  constructor(options: RtpReorderBufferOptions = {}) {
    this.#depth = Math.max(0, options.depth ?? 3);
    this.#maxJump = options.maxJump ?? 1000;
  }

  /** Packets held now. */
  get held(): number {
    return this.#held.size;
  }

  /** Adds a packet; returns what can be released now, in order. */
  push(packet: RtpPacket): RtpReorderItem[] {
    this.stats.received++;
    const out: RtpReorderItem[] = [];
    if (this.#started && this.#ssrc !== packet.ssrc) this.#restart(out);
    if (this.#started) {
      const seq = this.#extend(packet.sequenceNumber);
      if (Math.abs(seq - this.#next) <= this.#maxJump) return this.#accept(packet, seq, out);
      this.#restart(out);
    }
    this.#started = true;
    this.#ssrc = packet.ssrc;
    this.#highest = packet.sequenceNumber;
    this.#next = packet.sequenceNumber;
    return this.#accept(packet, packet.sequenceNumber, out);
  }

  /** Releases everything held (gaps as `lost`), e.g. when the stream ends. */
  flush(): RtpReorderItem[] {
    const out: RtpReorderItem[] = [];
    while (this.#held.size > 0) this.#releaseFirstHeld(out);
    return out;
  }

  #accept(packet: RtpPacket, seq: number, out: RtpReorderItem[]): RtpReorderItem[] {
    if (seq > this.#highest) this.#highest = seq;
    if (seq < this.#next) {
      this.stats.late++;
      return out;
    }
    if (this.#held.has(seq)) {
      this.stats.duplicates++;
      return out;
    }
    if (seq === this.#next) {
      if (this.#held.size > 0) this.stats.reordered++;
      this.#release(packet, seq, out);
      this.#drainInOrder(out);
      return out;
    }
    this.#held.set(seq, packet);
    while (this.#held.size > this.#depth) this.#releaseFirstHeld(out);
    return out;
  }

  #release(packet: RtpPacket, seq: number, out: RtpReorderItem[]): void {
    out.push({ kind: 'packet', packet, seq });
    this.stats.released++;
    this.#next = seq + 1;
  }

  #drainInOrder(out: RtpReorderItem[]): void {
    for (let p = this.#held.get(this.#next); p; p = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.#release(p, this.#next, out);
    }
  }

  /** Gives up on the gap before the oldest held packet. */
  #releaseFirstHeld(out: RtpReorderItem[]): void {
    let first = Infinity;
    for (const s of this.#held.keys()) if (s < first) first = s;
    const packet = this.#held.get(first);
    if (!packet) return;
    this.#held.delete(first);
    const missing = first - this.#next;
    if (missing > 0) {
      out.push({ kind: 'lost', count: missing });
      this.stats.lost += missing;
    }
    this.#release(packet, first, out);
    this.#drainInOrder(out);
  }

  #restart(out: RtpReorderItem[]): void {
    out.push(...this.flush());
    this.stats.resets++;
    this.#started = false;
  }

  /** Unwraps a 16-bit sequence number to the extended value closest to the highest seen. */
  #extend(seq16: number): number {
    const base = this.#highest - (this.#highest & 0xffff);
    let ext = base + seq16;
    if (ext - this.#highest > SEQ_MOD / 2) ext -= SEQ_MOD;
    else if (this.#highest - ext > SEQ_MOD / 2) ext += SEQ_MOD;
    return ext;
  }
}
