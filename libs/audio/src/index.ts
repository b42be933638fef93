/** WAV, PCM, resampling, Opus, RTP, VAD. */
export {};
export * from './lib/wav';
export * from './lib/pcm';
export * from './lib/resample';
export * from './lib/vad';
export * from './lib/vad-energy';
export * from './lib/opus';
export * from './lib/rtp';
export * from './lib/rtp-opus';
export * from './lib/utterance';
