import { FrameError, binaryFrameCodec, isBytes } from './binary-frame';
import {
  STT_JOB_NATS_MAX_BYTES,
  SttJobSubmitRequest,
  SttUtteranceRequest,
  sttAudioFrame,
  sttContracts,
} from './stt';

const header = (json: string, tail: Uint8Array = new Uint8Array(0)) => {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(4 + h.length + tail.length);
  new DataView(out.buffer).setUint32(0, h.length, false);
  out.set(h, 4);
  out.set(tail, 4 + h.length);
  return out;
};

describe('binaryFrameCodec', () => {
  const codec = binaryFrameCodec('audio');

  it('encode() puts a big-endian header length, the JSON of the other fields, then the bytes', () => {
    const audio = new Uint8Array([1, 2, 3, 4]);
    const frame = codec.encode({ id: 'a', n: 1, audio });
    const n = new DataView(frame.buffer).getUint32(0, false);
    expect(JSON.parse(new TextDecoder().decode(frame.subarray(4, 4 + n)))).toEqual({
      id: 'a',
      n: 1,
    });
    expect([...frame.subarray(4 + n)]).toEqual([1, 2, 3, 4]);
  });

  it('decode() of encode() gives the request back, the bytes as a view of the payload', () => {
    const audio = Uint8Array.from({ length: 1000 }, (_, i) => i & 0xff);
    const frame = codec.encode({ id: 'é✓', nested: { a: [1] }, audio });
    const back = codec.decode(frame) as { id: string; nested: unknown; audio: Uint8Array };
    expect(back.id).toBe('é✓');
    expect(back.nested).toEqual({ a: [1] });
    expect([...back.audio]).toEqual([...audio]);
    expect(back.audio.buffer).toBe(frame.buffer);
  });

  it('decode() reads frames at any byte offset (a slice of a bigger buffer, as NATS hands them)', () => {
    const frame = codec.encode({ id: 'x', audio: new Uint8Array([9, 8]) });
    const big = new Uint8Array(frame.length + 3);
    big.set(frame, 3);
    expect(codec.decode(big.subarray(3))).toMatchObject({ id: 'x' });
  });

  it('decode() rejects what is not a frame with a FrameError saying what is wrong', () => {
    const cases: Array<[Uint8Array, RegExp]> = [
      [new TextEncoder().encode('{"id":"a","audio":"AAAA"}'), /payload is JSON/],
      [new Uint8Array(0), /0 bytes is shorter than a frame/],
      [new Uint8Array([0, 0, 1]), /shorter than a frame/],
      [new Uint8Array([0, 0, 0, 9, 1, 2]), /header length 9 runs past the end of the 6-byte/],
      [new Uint8Array([1, 0, 0, 0]), /over the 16384 bytes allowed/],
      [header('nope'), /not UTF-8 JSON/],
      [header('"a string"'), /not a JSON object/],
      [header('null'), /not a JSON object/],
      [header('[]'), /not a JSON object/],
      [header('{"audio":"AAAA"}'), /must not hold audio/],
    ];
    const invalidUtf8 = new Uint8Array([0, 0, 0, 2, 0xc3, 0x28]);
    cases.push([invalidUtf8, /not UTF-8 JSON/]);
    for (const [bytes, message] of cases) {
      let thrown: unknown;
      try {
        codec.decode(bytes);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(FrameError);
      expect((thrown as FrameError).code).toBe('BAD_REQUEST');
      expect((thrown as FrameError).message).toMatch(message);
    }
  });

  it('encode() refuses a request whose bulk field is not bytes', () => {
    expect(() => codec.encode({ audio: 'AAAA' })).toThrow(FrameError);
  });

  it('isBytes() takes Uint8Arrays and Buffers, not other views or strings', () => {
    expect(isBytes(new Uint8Array(2))).toBe(true);
    expect(isBytes(Buffer.alloc(2))).toBe(true);
    expect(isBytes(new Int16Array(2))).toBe(false);
    expect(isBytes(new DataView(new ArrayBuffer(2)))).toBe(false);
    expect(isBytes('AAAA')).toBe(false);
  });
});

describe('stt.realtime.transcribe on the wire', () => {
  it('is a binary frame: the PCM as raw bytes, validated by the request schema after decoding', () => {
    expect(sttContracts.realtimeTranscribe.requestCodec).toBe(sttAudioFrame);
    expect(sttContracts.streamAudio.requestCodec).toBe(sttAudioFrame);
    const pcm = new Uint8Array(32_000 * 4);
    const req = { utteranceId: 'u1', kind: 'final' as const, startMs: 0, audio: pcm };
    const frame = sttAudioFrame.encode(SttUtteranceRequest.parse(req));
    expect(frame.length).toBeLessThan(pcm.length + 100);
    const parsed = SttUtteranceRequest.parse(sttAudioFrame.decode(frame));
    expect(parsed.audio.length).toBe(pcm.length);
  });

  it('the schema refuses odd byte counts, audio over 20 s and non-bytes', () => {
    const base = { utteranceId: 'u1', kind: 'final' as const };
    const issues = (audio: unknown) => {
      const r = SttUtteranceRequest.safeParse({ ...base, audio });
      return r.success ? '' : r.error.issues.map((i) => i.message).join('; ');
    };
    expect(issues(new Uint8Array(3))).toMatch(/whole 16-bit samples/);
    expect(issues(new Uint8Array(20_000 * 32 + 2))).toMatch(/longer than 20000 ms/);
    expect(issues('AAAA')).toMatch(/must be bytes/);
    expect(issues(null)).toMatch(/must be bytes/);
    expect(issues(undefined)).toMatch(/must be bytes/);
    expect(issues(new Uint8Array(0))).toBe('');
    expect(issues(new Uint8Array(20_000 * 32))).toBe('');
  });
  it('stt.job.submit carries the file as it is: any byte count up to the NATS limit, never base64 text', () => {
    expect(sttContracts.jobSubmit.requestCodec).toBeDefined();
    const file = Uint8Array.from({ length: 1001 }, (_, i) => (i * 7) & 0xff);
    const frame = sttContracts.jobSubmit.requestCodec?.encode({
      jobId: 'j1',
      audio: file,
      filename: 'a.flac',
    });
    const back = SttJobSubmitRequest.parse(
      sttContracts.jobSubmit.requestCodec?.decode(frame as Uint8Array),
    );
    expect(back).toMatchObject({ jobId: 'j1', filename: 'a.flac' });
    expect([...back.audio]).toEqual([...file]);
    const issues = (audio: unknown) => {
      const r = SttJobSubmitRequest.safeParse({ audio });
      return r.success ? '' : r.error.issues.map((i) => i.message).join('; ');
    };
    expect(issues(new Uint8Array(STT_JOB_NATS_MAX_BYTES + 1))).toMatch(/upload it over HTTP/);
    expect(issues('UklGRg==')).toMatch(/bytes of an audio file/);
    expect(issues(new Uint8Array(STT_JOB_NATS_MAX_BYTES))).toBe('');
  });
});
