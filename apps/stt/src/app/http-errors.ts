import { MessagingError, toErrorBody } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { statusOf } from '@parley/runtime';
import { SttError, type SttErrorCode } from '@parley/stt-engine';
import type { Response } from 'express';

/**
 * A worker's error relayed over NATS, with the HTTP status of its code: `NO_RESPONDERS` means no
 * worker serves (yet), `TIMEOUT` stays a timeout, STT codes keep their status.
 */
export function fromRemote(err: unknown): unknown {
  if (!(err instanceof MessagingError)) return err;
  if (err.code === 'NO_RESPONDERS') {
    return new SttError('NO_WORKER', 'no STT worker has its model loaded; try again shortly');
  }
  return new SttError(err.code as SttErrorCode, err.message, {
    retryable: err.retryable,
    details: err.details,
    cause: err,
  });
}

/**
 * Answers an error of the whisper.cpp-compatible endpoints: Parley's `{code, message}` plus the
 * `error` field whisper.cpp's clients read, with the status of the code.
 */
export function sendWhisperError(res: Response, err: unknown, logger: Logger): void {
  const e = fromRemote(err);
  const known = e instanceof SttError || (e as { code?: unknown })?.code !== undefined;
  const body = toErrorBody(known ? e : SttError.from(e));
  const status = statusOf(e, body);
  if (status >= 500) {
    logger.error('whisper() | request failed', { code: body.code, err: (err as Error)?.message });
  }
  if (res.headersSent) return;
  res.status(status).json({ error: body.message, ...body });
}

/** A multer upload (memory storage). */
export interface Upload {
  buffer: Buffer;
  originalname?: string;
  size: number;
}

/** The bytes of an upload as a Uint8Array view. */
export function uploadBytes(file: Upload): Uint8Array {
  return new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength);
}
