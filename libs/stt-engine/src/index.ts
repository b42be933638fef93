/** whisper.cpp engine host. */
export * from './lib/SttEngine';
export * from './lib/SttEngineError';
export * from './lib/SttLogger';
export * from './lib/GgmlModel';
export * from './lib/WhisperAddon';
export * from './lib/WhisperEngine';
export * from './lib/WhisperParams';
export * from './lib/LongAudioTranscriber';
export * from './lib/PriorityLock';
export * from './lib/languages';
export * from './lib/SttError';
export * from './lib/RealtimeLane';
export * from './lib/RealtimeStream';
export * from './lib/SttJobStore';
export * from './lib/BatchJobRunner';
