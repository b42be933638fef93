/**
 * The logging surface `@parley/stt-engine` needs; a winston logger satisfies it. Lines read
 * `method() | what happened` with structured fields.
 */
export interface SttLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Discards everything; the default when no logger is given. */
export const silentSttLogger: SttLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
