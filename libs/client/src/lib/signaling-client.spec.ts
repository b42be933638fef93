import { ProtocolError, SignalingClient, type WebSocketLike } from './signaling-client';

/** An in-memory WebSocket: the test plays the server. */
class FakeSocket implements WebSocketLike {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000, reason = ''): void {
    this.serverClose(code, reason);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverClose(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  reply(id: unknown, data: unknown): void {
    this.onmessage?.({ data: JSON.stringify({ type: 'response', id, ok: true, data }) });
  }

  fail(id: unknown, code: string, retryable = false): void {
    this.onmessage?.({
      data: JSON.stringify({
        type: 'response',
        id,
        ok: false,
        error: { code, message: code, retryable },
      }),
    });
  }

  notify(method: string, data: unknown): void {
    this.onmessage?.({ data: JSON.stringify({ type: 'notification', method, data }) });
  }
}

const JOIN = {
  sessionId: 'sess-1',
  peerId: 'p1',
  room: 'r',
  identity: 'ada',
  role: 'member',
  grants: { join: true, publish: true, subscribe: true, admin: false },
  resumed: false,
  routerRtpCapabilities: { codecs: [] },
  peers: [],
  producers: [],
  transports: [],
  ownProducers: [],
  roomOptions: { transcription: false, language: 'auto' },
  reconnectGraceS: 30,
  tokenExpiresAt: 0,
};

async function connected(opts: Partial<ConstructorParameters<typeof SignalingClient>[0]> = {}) {
  const c = new SignalingClient({
    url: 'ws://x/v1/ws',
    token: 'T0',
    WebSocket: FakeSocket,
    reconnectDelayMs: 1,
    ...opts,
  });
  const p = c.connect();
  const ws = FakeSocket.all.at(-1) as FakeSocket;
  ws.open();
  await p;
  return { c, ws };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('SignalingClient', () => {
  beforeEach(() => (FakeSocket.all = []));

  it('connects with the token in the query and matches responses to requests by id', async () => {
    const { c, ws } = await connected();
    expect(ws.url).toBe('ws://x/v1/ws?token=T0');
    const a = c.request('ping', { t: 1 });
    const b = c.request('ping', { t: 2 });
    expect(ws.sent.map((f) => [f['method'], f['id']])).toEqual([
      ['ping', 1],
      ['ping', 2],
    ]);
    ws.reply(2, { t: 2, serverTime: 5 });
    ws.reply(1, { t: 1, serverTime: 4 });
    expect(await a).toEqual({ t: 1, serverTime: 4 });
    expect(await b).toEqual({ t: 2, serverTime: 5 });
  });

  it('rejects error responses with a ProtocolError carrying code and retryable', async () => {
    const { c, ws } = await connected();
    const p = c.request('createTransport', { direction: 'send' });
    ws.fail(1, 'SFU_UNAVAILABLE', true);
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: 'SFU_UNAVAILABLE', retryable: true });
  });

  it('rejects a request without an answer within its deadline with TIMEOUT', async () => {
    const { c } = await connected({ requestTimeoutMs: 20 });
    await expect(c.request('ping', {})).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('emits notifications as typed events and adopts refreshed tokens', async () => {
    const { c, ws } = await connected();
    const peers: string[] = [];
    c.on('peerJoined', (d) => peers.push(d.peer.identity));
    ws.notify('peerJoined', { peer: { peerId: 'p2', identity: 'bob', role: 'member' } });
    ws.notify('tokenRefreshed', { token: 'T1', expiresAt: 1 });
    expect(peers).toEqual(['bob']);
    expect(c.token).toBe('T1');
  });

  it('after a drop, reconnects with the newest token and resumes the session id; pending requests fail with DISCONNECTED', async () => {
    const { c, ws } = await connected();
    const j = c.join({ displayName: 'Ada' });
    ws.reply(1, JOIN);
    await j;
    ws.notify('tokenRefreshed', { token: 'T2', expiresAt: 1 });
    const pending = c.request('ping', {});
    const reconnected = new Promise((r) => c.once('reconnected', r));
    ws.serverClose(1006, 'network');
    await expect(pending).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await tick();
    const ws2 = FakeSocket.all.at(-1) as FakeSocket;
    expect(ws2).not.toBe(ws);
    expect(ws2.url).toBe('ws://x/v1/ws?token=T2');
    ws2.open();
    await tick();
    expect(ws2.sent[0]).toMatchObject({
      method: 'join',
      data: { sessionId: 'sess-1', displayName: 'Ada' },
    });
    ws2.reply(ws2.sent[0]?.['id'], { ...JOIN, resumed: true });
    expect(await reconnected).toMatchObject({ resumed: true });
  });

  it('does not reconnect after removal (4003), a bad token (4001) or close()', async () => {
    for (const code of [4003, 4001]) {
      const { c, ws } = await connected();
      const j = c.join();
      ws.reply(1, JOIN);
      await j;
      const closes: boolean[] = [];
      c.on('close', (i) => closes.push(i.willReconnect));
      ws.serverClose(code, 'bye');
      await tick();
      expect(closes).toEqual([false]);
      expect(FakeSocket.all.at(-1)).toBe(ws);
    }
    const { c, ws } = await connected();
    const j = c.join();
    ws.reply(1, JOIN);
    await j;
    c.close();
    await tick();
    expect(FakeSocket.all.at(-1)).toBe(ws);
  });

  it('a retryable failure of the re-join drops the socket and tries again', async () => {
    const { c, ws } = await connected();
    const j = c.join();
    ws.reply(1, JOIN);
    await j;
    ws.serverClose(1012, 'restart');
    await tick();
    const ws2 = FakeSocket.all.at(-1) as FakeSocket;
    ws2.open();
    await tick();
    ws2.fail(ws2.sent[0]?.['id'], 'SFU_UNAVAILABLE', true);
    await tick();
    await tick();
    const ws3 = FakeSocket.all.at(-1) as FakeSocket;
    expect(ws3).not.toBe(ws2);
    ws3.open();
    await tick();
    expect(ws3.sent[0]).toMatchObject({ method: 'join', data: { sessionId: 'sess-1' } });
    c.close();
  });
});
