import { decodeWav, encodeWav } from '@parley/audio';

import { audioContentType, encodeAudio, encodeAudioStream } from './AudioEncoding';

async function* chunks(...parts: number[][]): AsyncGenerator<Int16Array> {
  for (const p of parts) yield Int16Array.from(p);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

describe('audio encoding', () => {
  it('encodeAudio() gives a WAV with exact sizes and raw little-endian PCM', async () => {
    const pcm = Int16Array.from([1, -2, 300]);
    const wav = await encodeAudio('wav', pcm, 22050);
    expect(Buffer.from(wav)).toEqual(
      Buffer.from(encodeWav(pcm, { sampleRate: 22050, channels: 1 })),
    );
    const raw = Buffer.from(await encodeAudio('pcm', pcm, 22050));
    expect([raw.readInt16LE(0), raw.readInt16LE(2), raw.readInt16LE(4)]).toEqual([1, -2, 300]);
  });

  it('encodeAudioStream(wav) sends an unknown-length header with the first chunk, then raw chunks', async () => {
    const pieces: Uint8Array[] = [];
    for await (const p of encodeAudioStream('wav', 16000, chunks([1, 2], [3], [4, 5, 6])))
      pieces.push(p);
    expect(pieces.map((p) => p.byteLength)).toEqual([44 + 4, 2, 6]);
    const all = Buffer.concat(pieces);
    expect(all.readUInt32LE(40)).toBe(0xffffffff);
    // A copy: decodeWav() mis-reads pooled Buffer slices (Buffer#slice is a view, not a copy).
    const decoded = decodeWav(new Uint8Array(all));
    expect(decoded.sampleRate).toBe(16000);
    expect(Array.from(decoded.samples)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('encodeAudioStream(pcm) passes chunks through and ends with the source’s error', async () => {
    async function* failing(): AsyncGenerator<Int16Array> {
      yield Int16Array.from([7]);
      throw new Error('engine died');
    }
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const p of encodeAudioStream('pcm', 16000, failing())) seen.push(p.byteLength);
      })(),
    ).rejects.toThrow('engine died');
    expect(seen).toEqual([2]);
    expect((await collect(encodeAudioStream('pcm', 8000, chunks([1], [2])))).length).toBe(4);
  });

  it('audioContentType() names little-endian PCM explicitly', () => {
    expect(audioContentType('wav', 22050)).toBe('audio/wav');
    expect(audioContentType('pcm', 22050)).toBe('audio/pcm;rate=22050;channels=1;encoding=s16le');
    expect(audioContentType('ogg', 22050)).toBe('audio/ogg;codecs=opus');
  });
});
