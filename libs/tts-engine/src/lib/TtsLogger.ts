import { type EngineLogger, silentLogger } from '@parley/observability';

/** The logger this library writes to (a winston logger satisfies it). */
export type TtsLogger = EngineLogger;

/** A logger that drops everything. */
export const silentTtsLogger: TtsLogger = silentLogger;
