import { WS_MAX_FRAME_BYTES, parseClientFrame, parseServerMessage } from '@parley/contracts';

const req = (method: string, data: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: 'request', id: 5, method, data, ...extra });

describe('protocol parsing', () => {
  it('parseClientFrame() turns a valid frame into a typed request, keeping meta', () => {
    const r = parseClientFrame(
      req('createTransport', { direction: 'recv' }, { meta: { 'x-correlation-id': 'c1' } }),
    );
    expect(r).toEqual({
      ok: true,
      request: {
        type: 'request',
        id: 5,
        method: 'createTransport',
        data: { direction: 'recv' },
        meta: { 'x-correlation-id': 'c1' },
      },
    });
  });

  it('parseClientFrame() treats missing data as {} (ping, leave)', () => {
    expect(
      parseClientFrame(JSON.stringify({ type: 'request', id: 'a', method: 'ping' })),
    ).toMatchObject({ ok: true, request: { data: {} } });
  });

  it.each([
    ['not JSON', 'nope', null, 'BAD_REQUEST'],
    ['a JSON array', '[1]', null, 'BAD_REQUEST'],
    [
      'a non-request type',
      JSON.stringify({ type: 'response', id: 3, method: 'ping' }),
      3,
      'BAD_REQUEST',
    ],
    [
      'an unreadable id',
      JSON.stringify({ type: 'request', id: -1, method: 'ping' }),
      null,
      'BAD_REQUEST',
    ],
    ['an unknown method', req('fly', {}), 5, 'UNKNOWN_METHOD'],
    ['a prototype method name', req('__proto__', {}), 5, 'UNKNOWN_METHOD'],
    ['an unknown key in data', req('ping', { t: 1, x: 2 }), 5, 'BAD_REQUEST'],
    ['a wrong type in data', req('createTransport', { direction: 'sideways' }), 5, 'BAD_REQUEST'],
    ['an extra envelope key', req('ping', {}, { sneaky: true }), 5, 'BAD_REQUEST'],
    ['an oversized frame', 'x'.repeat(WS_MAX_FRAME_BYTES + 1), null, 'PAYLOAD_TOO_LARGE'],
  ])('parseClientFrame() rejects %s with the right code and id', (_what, text, id, code) => {
    const r = parseClientFrame(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.id).toBe(id);
      expect(r.error.code).toBe(code);
    }
  });

  it('parseClientFrame() reports the schema issues as details', () => {
    const r = parseClientFrame(
      req('connectTransport', { transportId: 't', dtlsParameters: { fingerprints: [] } }),
    );
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toMatch(/dtlsParameters\.fingerprints/);
      expect(r.error.details).toEqual([
        expect.objectContaining({ path: ['dtlsParameters', 'fingerprints'] }),
      ]);
    }
  });

  it('parseServerMessage() accepts responses and known notifications, and validates notification data on request', () => {
    expect(
      parseServerMessage(JSON.stringify({ type: 'response', id: 1, ok: true, data: {} })),
    ).toMatchObject({ ok: true });
    expect(
      parseServerMessage(JSON.stringify({ type: 'notification', method: 'nope', data: {} })),
    ).toBeUndefined();
    const bad = JSON.stringify({ type: 'notification', method: 'peerLeft', data: { peerId: 1 } });
    expect(parseServerMessage(bad)).toBeDefined();
    expect(parseServerMessage(bad, { validateData: true })).toBeUndefined();
    expect(parseServerMessage('garbage')).toBeUndefined();
  });
});
