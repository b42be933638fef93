import { MsgHdrsImpl, headers as natsHeaders } from 'nats';
import { MessagingError, toErrorBody } from './errors';
import { parseTraceFields, readTraceFields, subjectWith, traceHeaders } from './codec';
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

describe('trace headers', () => {
  const fields = {
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    tracestate: 'vendor=a1',
    correlationId: '3b241101-e2bb-4255-8caf-4136c566a962',
  };

  it('traceHeaders() encodes the same bytes as headers set one by one', () => {
    const expected = natsHeaders();
    expected.set('traceparent', fields.traceparent);
    expected.set('tracestate', fields.tracestate);
    expected.set('x-correlation-id', fields.correlationId);
    const h = traceHeaders(fields) as MsgHdrsImpl;
    expect(Buffer.from(h.encode()).toString()).toBe(
      Buffer.from((expected as MsgHdrsImpl).encode()).toString(),
    );
    expect(h.get('x-correlation-id')).toBe(fields.correlationId);
    expect(readTraceFields(MsgHdrsImpl.decode(h.encode()))).toEqual(fields);
  });

  it('traceHeaders() stays correct when the headers are changed afterwards', () => {
    const h = traceHeaders({ correlationId: 'c-1' });
    h.set('Nats-Msg-Id', 'job-1');
    h.set('x-correlation-id', 'c-2');
    const decoded = MsgHdrsImpl.decode((h as MsgHdrsImpl).encode());
    expect(decoded.get('Nats-Msg-Id')).toBe('job-1');
    expect(decoded.values('x-correlation-id')).toEqual(['c-2']);
  });

  it('parseTraceFields() reads a header block as MsgHdrsImpl.decode() does', () => {
    const blocks = [
      `NATS/1.0\r\ntraceparent: ${fields.traceparent}\r\nx-correlation-id: c-1\r\n\r\n`,
      `NATS/1.0\r\nTraceparent: x\r\ntraceparent:   spaced  \r\ntraceparent: second\r\n\r\n`,
      `NATS/1.0 503\r\n\r\n`,
      `NATS/1.0\r\nNats-Msg-Id: a:b\r\ntracestate: k=v,l=w\r\nx-correlation-id:\r\n\r\n`,
      `NATS/1.0\r\nno colon line\r\nx-correlation-id: c-9\r\n\r\n`,
      'NATS/1.0\r\n\r\n',
    ];
    for (const block of blocks) {
      const viaNats = readTraceFields(MsgHdrsImpl.decode(new TextEncoder().encode(block)));
      const fast = parseTraceFields(block);
      // MsgHdrsImpl.get() reads an empty value as absent; contextFromTraceFields() ignores both.
      const defined = (f: object) =>
        Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined && v !== ''));
      expect(defined(fast)).toEqual(defined(viaNats));
    }
    expect(parseTraceFields(blocks[1] ?? '').traceparent).toBe('spaced');
  });
});
