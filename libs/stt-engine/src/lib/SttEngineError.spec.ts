import { STT_ENGINE_ERROR_CODES, SttEngineError } from './SttEngineError';

describe('SttEngineError', () => {
  it('marks transient conditions retryable and bad input or bad models not', () => {
    const retryable = STT_ENGINE_ERROR_CODES.filter((c) => new SttEngineError(c, '').retryable);
    expect(retryable.sort()).toEqual(['ABORTED', 'CLOSED', 'NOT_LOADED', 'TRANSCRIBE_FAILED']);
  });

  it('serialises to { code, message, retryable } and keeps the cause', () => {
    const cause = new Error('native');
    const err = new SttEngineError('TRANSCRIBE_FAILED', 'whisper_full failed', { cause });
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'TRANSCRIBE_FAILED',
      message: 'whisper_full failed',
      retryable: true,
    });
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('SttEngineError');
  });
});
