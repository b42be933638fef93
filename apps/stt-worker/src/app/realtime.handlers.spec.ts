import { bytesToFloat32 } from '@parley/audio';
import { decodePcm } from './realtime.handlers';

describe('decodePcm()', () => {
  it('gives the samples bytesToFloat32 gives, from a view at an odd byte offset too', () => {
    const bytes = new Uint8Array(2 * 1000 + 1);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) & 0xff;
    for (const view of [bytes.subarray(0, 2000), bytes.subarray(1)]) {
      expect(decodePcm(view)).toEqual(bytesToFloat32(view));
    }
    const extremes = new Uint8Array([0x00, 0x80, 0xff, 0x7f, 0x00, 0x00]);
    expect([...decodePcm(extremes)]).toEqual([-1, 32767 / 32768, 0]);
  });

  it('throws EMPTY_AUDIO for no samples', () => {
    expect(() => decodePcm(new Uint8Array(0))).toThrow(
      expect.objectContaining({ code: 'EMPTY_AUDIO' }),
    );
    expect(() => decodePcm(new Uint8Array(1))).toThrow(
      expect.objectContaining({ code: 'EMPTY_AUDIO' }),
    );
  });
});
