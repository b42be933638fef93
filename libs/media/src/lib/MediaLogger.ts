import type { EngineLogger } from '@parley/observability';

/** The logger this library writes to (a winston logger satisfies it). */
export type MediaLogger = EngineLogger;

export { silentLogger } from '@parley/observability';
