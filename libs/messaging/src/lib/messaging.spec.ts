import { MessagingError, toErrorBody } from './errors';
import { subjectWith } from './codec';
import { summarizeIssues } from './NatsMessaging';

describe('toErrorBody()', () => {
  it('keeps the code, message and retryable of domain errors', () => {
    const err = Object.assign(new Error('room r1 not found'), {
      code: 'ROOM_NOT_FOUND',
      retryable: false,
    });
    expect(toErrorBody(err)).toEqual({
      code: 'ROOM_NOT_FOUND',
      message: 'room r1 not found',
      retryable: false,
    });
  });

  it('hides the message of unexpected errors behind INTERNAL', () => {
    expect(toErrorBody(new TypeError('x is undefined'))).toEqual({
      code: 'INTERNAL',
      message: 'internal error',
      retryable: false,
    });
    expect(toErrorBody('string')).toMatchObject({ code: 'INTERNAL' });
  });

  it('round-trips a MessagingError through its wire body', () => {
    const e = MessagingError.fromBody(new MessagingError('TIMEOUT', 't', true).toBody());
    expect(e).toMatchObject({ code: 'TIMEOUT', retryable: true, remote: true });
  });
});

describe('subjectWith()', () => {
  it('appends validated tokens and refuses dots and wildcards', () => {
    expect(subjectWith('sfu.room.closed', ['r1'])).toBe('sfu.room.closed.r1');
    expect(() => subjectWith('a', ['x.y'])).toThrow(/invalid subject token/);
    expect(() => subjectWith('a', ['>'])).toThrow();
    expect(subjectWith('a', ['>'], true)).toBe('a.>');
  });
});

describe('summarizeIssues()', () => {
  it('bounds the message', () => {
    const issues = Array.from({ length: 50 }, (_, i) => ({
      path: ['f', i],
      message: 'bad '.repeat(50),
    }));
    expect(summarizeIssues(issues).length).toBeLessThanOrEqual(500);
  });
});
