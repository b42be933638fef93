import {
  parseRtp,
  RtpPacketizer,
  RtpParseError,
  type RtpPacket,
  type RtpReorderItem,
  RtpReorderBuffer,
  serializeRtp,
} from './rtp';

function packet(seq: number, ts = seq * 960, ssrc = 1234): RtpPacket {
  return parseRtp(
    serializeRtp({
      payloadType: 100,
      sequenceNumber: seq & 0xffff,
      timestamp: ts >>> 0,
      ssrc,
      payload: Uint8Array.of(seq & 0xff),
    }),
  );
}

/** Released sequence numbers (16-bit) and losses as `L<count>`. */
function trace(items: RtpReorderItem[]): (number | string)[] {
  return items.map((i) => (i.kind === 'lost' ? `L${i.count}` : i.packet.sequenceNumber));
}

describe('RTP packets', () => {
  it('serializeRtp() and parseRtp() round-trip the fixed header and payload', () => {
    const bytes = serializeRtp({
      payloadType: 111,
      sequenceNumber: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      marker: true,
      payload: Uint8Array.of(1, 2, 3),
    });
    expect(bytes.length).toBe(15);
    expect(parseRtp(bytes)).toEqual({
      payloadType: 111,
      sequenceNumber: 65535,
      timestamp: 0xfffffff0,
      ssrc: 0xdeadbeef,
      marker: true,
      csrcs: [],
      payload: Uint8Array.of(1, 2, 3),
    });
  });

  it('parseRtp() skips CSRCs and the header extension and strips padding', () => {
    const bytes = Uint8Array.of(
      0b1011_0010, // V=2, P=1, X=1, CC=2
      100,
      0,
      7, // seq
      0,
      0,
      3,
      0xc0, // ts 960
      0,
      0,
      0,
      9, // ssrc
      0,
      0,
      0,
      1, // csrc 1
      0,
      0,
      0,
      2, // csrc 2
      0xbe,
      0xde,
      0,
      1, // one-byte extension profile, 1 word
      0x10,
      0xff,
      0,
      0, // ssrc-audio-level element + padding
      0xaa,
      0xbb, // payload
      0,
      0,
      3, // 3 bytes of RTP padding
    );
    const p = parseRtp(bytes);
    expect(p.csrcs).toEqual([1, 2]);
    expect(p.extension?.profile).toBe(0xbede);
    expect([...(p.extension?.data ?? [])]).toEqual([0x10, 0xff, 0, 0]);
    expect([...p.payload]).toEqual([0xaa, 0xbb]);
    expect(p).toMatchObject({ sequenceNumber: 7, timestamp: 960, ssrc: 9, marker: false });
  });

  it.each([
    ['too short', Uint8Array.of(0x80, 100, 0, 1)],
    ['version 1', Uint8Array.of(0x40, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1)],
    ['RTCP sender report', Uint8Array.of(0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0)],
    ['truncated CSRC list', Uint8Array.of(0x83, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0)],
    [
      'truncated extension',
      Uint8Array.of(0x90, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 4),
    ],
    ['padding beyond the payload', Uint8Array.of(0xa0, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9)],
    ['zero padding count', Uint8Array.of(0xa0, 100, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0)],
  ])('parseRtp() rejects a buffer that is %s with RtpParseError', (_what, bytes) => {
    expect(() => parseRtp(bytes)).toThrow(RtpParseError);
  });

  it('RtpPacketizer wraps sequence numbers and timestamps and marks talkspurt starts', () => {
    const tx = new RtpPacketizer({
      ssrc: 5,
      payloadType: 100,
      sequenceNumber: 65534,
      timestamp: 0xffffffff - 959,
    });
    const seen = [0, 1, 2].map(() => parseRtp(tx.packetize(Uint8Array.of(0), 960)));
    expect(seen.map((p) => p.sequenceNumber)).toEqual([65534, 65535, 0]);
    expect(seen.map((p) => p.timestamp)).toEqual([0xffffffff - 959, 0, 960]);
    expect(seen.map((p) => p.marker)).toEqual([true, false, false]);
    tx.skip(48_000);
    const after = parseRtp(tx.packetize(Uint8Array.of(0), 960));
    expect(after).toMatchObject({ sequenceNumber: 1, timestamp: 1920 + 48_000, marker: true });
    expect(tx.packets).toBe(4);
  });
});

describe('RtpReorderBuffer', () => {
  it('passes in-order packets straight through', () => {
    const rx = new RtpReorderBuffer();
    const out = [10, 11, 12].flatMap((s) => trace(rx.push(packet(s))));
    expect(out).toEqual([10, 11, 12]);
    expect(rx.held).toBe(0);
  });

  it('puts a swapped pair back in order', () => {
    const rx = new RtpReorderBuffer({ depth: 3 });
    const out = [1, 3, 2, 4].flatMap((s) => trace(rx.push(packet(s))));
    expect(out).toEqual([1, 2, 3, 4]);
    expect(rx.stats).toMatchObject({ reordered: 1, lost: 0 });
  });

  it('declares a gap lost once `depth` later packets are held, and drops the straggler', () => {
    const rx = new RtpReorderBuffer({ depth: 2 });
    const out = [1, 4, 5, 6, 2].flatMap((s) => trace(rx.push(packet(s))));
    expect(out).toEqual([1, 'L2', 4, 5, 6]);
    expect(rx.stats).toMatchObject({ lost: 2, late: 1, released: 4 });
  });

  it('drops duplicates', () => {
    const rx = new RtpReorderBuffer();
    const out = [1, 1, 3, 3, 2].flatMap((s) => trace(rx.push(packet(s))));
    expect(out).toEqual([1, 2, 3]);
    expect(rx.stats.duplicates).toBe(1);
    expect(rx.stats.late).toBe(1);
  });

  it('handles sequence wrap-around, with reordering across it', () => {
    const rx = new RtpReorderBuffer();
    const items = [65533, 65534, 0, 65535, 1, 2].flatMap((s) => rx.push(packet(s)));
    expect(trace(items)).toEqual([65533, 65534, 65535, 0, 1, 2]);
    const ext = items.flatMap((i) => (i.kind === 'packet' ? [i.seq] : []));
    expect(ext).toEqual([65533, 65534, 65535, 65536, 65537, 65538]);
  });

  it('starts over on a new SSRC or a huge sequence jump instead of reporting loss', () => {
    const rx = new RtpReorderBuffer();
    const out = [
      ...rx.push(packet(100)),
      ...rx.push(packet(7, 0, 999)),
      ...rx.push(packet(8, 960, 999)),
      ...rx.push(packet(30_000, 0, 999)),
      ...rx.push(packet(30_001, 0, 999)),
    ];
    expect(trace(out)).toEqual([100, 7, 8, 30_000, 30_001]);
    expect(rx.stats).toMatchObject({ resets: 2, lost: 0 });
  });

  it('flush() releases what is held, gaps as lost', () => {
    const rx = new RtpReorderBuffer({ depth: 5 });
    expect(trace([1, 3, 5].flatMap((s) => rx.push(packet(s))))).toEqual([1]);
    expect(trace(rx.flush())).toEqual(['L1', 3, 'L1', 5]);
    expect(rx.held).toBe(0);
  });
});
