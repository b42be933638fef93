import { MediaError, toMediaError } from './MediaError';

function named(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

describe('toMediaError()', () => {
  it('maps mediasoup TypeErrors to the caller’s bad-input code', () => {
    expect(toMediaError(new TypeError('invalid kind')).code).toBe('BAD_REQUEST');
    expect(toMediaError(new TypeError('missing codecs'), 'BAD_RTP_PARAMETERS').code).toBe(
      'BAD_RTP_PARAMETERS',
    );
  });

  it('maps UnsupportedError to the bad-input code and InvalidStateError to INVALID_STATE', () => {
    expect(toMediaError(named('UnsupportedError', 'codec'), 'BAD_RTP_PARAMETERS').code).toBe(
      'BAD_RTP_PARAMETERS',
    );
    expect(toMediaError(named('InvalidStateError', 'closed')).code).toBe('INVALID_STATE');
  });

  it('recognises a second connect and a dead worker channel', () => {
    expect(
      toMediaError(new Error('connect() already called [method:transport.connect]')).code,
    ).toBe('ALREADY_CONNECTED');
    const dead = toMediaError(named('InvalidStateError', 'Channel closed'));
    expect(dead.code).toBe('WORKER_DIED');
    expect(dead.retryable).toBe(true);
  });

  it('keeps MediaErrors as they are and wraps anything else as INTERNAL', () => {
    const original = new MediaError('NOT_FOUND', 'x');
    expect(toMediaError(original)).toBe(original);
    const wrapped = toMediaError('boom');
    expect(wrapped.code).toBe('INTERNAL');
    expect(wrapped.retryable).toBe(false);
    expect(wrapped.toJSON()).toEqual({ code: 'INTERNAL', message: 'boom', retryable: false });
  });
});
