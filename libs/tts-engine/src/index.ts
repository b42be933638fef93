/** Piper on onnxruntime: phonemes, sentence streaming, voices. */
export * from './lib/TtsError';
export * from './lib/TtsLogger';
export * from './lib/types';
export * from './lib/VoiceConfig';
export * from './lib/PhonemeIds';
export * from './lib/SentenceSplitter';
export * from './lib/TextNormalizer';
export * from './lib/ScriptGuard';
export * from './lib/Semaphore';
export * from './lib/EspeakPhonemizer';
export * from './lib/ModelRunner';
export * from './lib/pcm';
export * from './lib/PiperVoice';
export * from './lib/VoiceRegistry';
