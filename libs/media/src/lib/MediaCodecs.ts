import type { types as ms } from 'mediasoup';

/**
 * Router codecs for a voice room: Opus stereo-capable at 48 kHz, in-band FEC and DTX allowed.
 * Parley rooms are audio-only; pass `mediaCodecs` to a room to add video.
 */
export const DEFAULT_MEDIA_CODECS: ms.RtpCodecCapability[] = [
  {
    kind: 'audio',
    mimeType: 'audio/opus',
    // Fixed so every router of a room (and every room) offers the same payload type.
    preferredPayloadType: 100,
    clockRate: 48000,
    channels: 2,
    parameters: { useinbandfec: 1, usedtx: 1 },
  },
];
