import { mintToken } from '@parley/auth';
import { ProtocolError, type SignalingClient } from '@parley/client';
import { WS_CLOSE, WS_MAX_FRAME_BYTES } from '@parley/contracts';
import { type PrivateServer, eventually, startNatsServer, testRunId } from '@parley/testing';
import { WebSocket } from 'ws';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  client,
  joined,
  startSignaling,
  tokenFor,
  type TestSignaling,
} from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const DTLS = { role: 'client' as const, fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] };
const OPUS = {
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
};

/** Collects notifications of a client by method. */
function recorder(c: SignalingClient) {
  const seen: Array<{ method: string; data: unknown }> = [];
  for (const m of [
    'peerJoined',
    'peerLeft',
    'newProducer',
    'producerClosed',
    'producerPaused',
    'muted',
    'removed',
    'reconnectRequired',
    'tokenRefreshed',
    'activeSpeaker',
  ] as const) {
    c.on(m, (data: unknown) => seen.push({ method: m, data }));
  }
  return {
    seen,
    of: (m: string) =>
      seen.filter((x) => x.method === m).map((x) => x.data as Record<string, unknown>),
  };
}

/** A raw socket (for frames the typed client cannot send) that collects what the server says. */
async function rawSocket(url: string) {
  const ws = new WebSocket(url);
  const frames: Array<Record<string, unknown>> = [];
  let closed: { code: number; reason: string } | undefined;
  ws.on('message', (d: Buffer) =>
    frames.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>),
  );
  ws.on(
    'close',
    (code: number, reason: Buffer) => (closed = { code, reason: reason.toString('utf8') }),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames, closed: () => closed };
}

async function closeOf(url: string): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(url);
  return new Promise((resolve) =>
    ws.on('close', (code: number, reason: Buffer) =>
      resolve({ code, reason: reason.toString('utf8') }),
    ),
  );
}

async function expectError(p: Promise<unknown>, code: string): Promise<ProtocolError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProtocolError);
  expect((err as ProtocolError).code).toBe(code);
  return err as ProtocolError;
}

describe('signaling protocol against a fake SFU', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let sig: TestSignaling;
  const clients: SignalingClient[] = [];
  const room = () => `r-${Math.random().toString(36).slice(2, 10)}`;
  const join = async (
    ...args: Parameters<typeof joined> extends [unknown, ...infer R] ? R : never
  ) => {
    const r = await joined(sig, ...args);
    clients.push(r.client);
    return r;
  };

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    sig = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_SFU_TIMEOUT_MS: '400',
      SIGNALING_RECONNECT_GRACE_S: '2',
      SIGNALING_WS_BAD_FRAMES: '5',
    });
  });

  afterEach(() => {
    sfu.release();
    for (const c of clients.splice(0)) c.close();
  });

  afterAll(async () => {
    await sig?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  it('join returns router capabilities, the other peers and their producers', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'alice', r);
    expect(a.join).toMatchObject({ room: r, identity: 'alice', role: 'member', resumed: false });
    expect(a.join.routerRtpCapabilities).toHaveProperty('codecs');
    const t = await a.client.request('createTransport', { direction: 'send' });
    await a.client.request('connectTransport', {
      transportId: t.transportId,
      dtlsParameters: DTLS,
    });
    const p = await a.client.request('produce', {
      transportId: t.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    const b = await join(TENANTS.acme, 'bob', r);
    expect(b.join.peers.map((x) => x.identity)).toEqual(['alice']);
    expect(b.join.producers).toEqual([
      { producerId: p.producerId, peerId: a.join.peerId, kind: 'audio', paused: false },
    ]);
  });

  it('peers hear peerJoined, newProducer (once, though signaling and the SFU both announce it), producerClosed and peerLeft', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'alice', r);
    const ra = recorder(a.client);
    const b = await join(TENANTS.acme, 'bob', r);
    const rb = recorder(b.client);
    await eventually(() => ra.of('peerJoined').length === 1);
    expect(ra.of('peerJoined')[0]).toEqual({
      peer: expect.objectContaining({ identity: 'bob', peerId: b.join.peerId }),
    });

    const t = await a.client.request('createTransport', { direction: 'send' });
    const p = await a.client.request('produce', {
      transportId: t.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    await eventually(() => rb.of('newProducer').length === 1);
    await new Promise((res) => setTimeout(res, 200));
    expect(rb.of('newProducer')).toEqual([
      { producerId: p.producerId, peerId: a.join.peerId, kind: 'audio', paused: false },
    ]);

    const rt = await b.client.request('createTransport', { direction: 'recv' });
    const cons = await b.client.request('consume', {
      transportId: rt.transportId,
      producerId: p.producerId,
      rtpCapabilities: a.join.routerRtpCapabilities,
    });
    expect(cons).toMatchObject({ producerId: p.producerId, peerId: a.join.peerId, kind: 'audio' });
    await b.client.request('resumeConsumer', { consumerId: cons.consumerId });

    await a.client.request('closeProducer', { producerId: p.producerId });
    await eventually(() => rb.of('producerClosed').length === 1);
    await a.client.leave();
    await eventually(() => rb.of('peerLeft').length === 1);
    expect(rb.of('peerLeft')[0]).toEqual({ peerId: a.join.peerId, reason: 'left' });
  });

  it('a listener cannot create a send transport or produce; a member can', async () => {
    const r = room();
    const l = await join(TENANTS.acme, 'lena', r, { role: 'listener' });
    expect(l.join.grants).toEqual({ join: true, publish: false, subscribe: true, admin: false });
    await expectError(l.client.request('createTransport', { direction: 'send' }), 'FORBIDDEN');
    const recv = await l.client.request('createTransport', { direction: 'recv' });
    await expectError(
      l.client.request('produce', {
        transportId: recv.transportId,
        kind: 'audio',
        rtpParameters: OPUS,
      }),
      'FORBIDDEN',
    );
    // Grants in a token cannot lift the role's ceiling.
    const l2 = await join(TENANTS.acme, 'lars', r, { role: 'listener', grants: { publish: true } });
    expect(l2.join.grants.publish).toBe(false);
  });

  it('a join into a placed room gets its transports with the room open (one SFU call), as its grants allow; a refused one leaves no SFU peer', async () => {
    const r = room();
    await join(TENANTS.acme, 'alice', r);
    const since = (n: number, subject: string) =>
      sfu.calls.slice(n).filter((x) => x.subject === subject);
    let mark = sfu.calls.length;
    const b = await join(TENANTS.acme, 'bob', r);
    expect(since(mark, 'sfu.room.open').map((x) => x.payload)).toEqual([
      expect.objectContaining({ peer: { peerId: b.join.peerId, transports: ['send', 'recv'] } }),
    ]);
    const send = await b.client.request('createTransport', { direction: 'send' });
    const recv = await b.client.request('createTransport', { direction: 'recv' });
    expect(send).toMatchObject({ direction: 'send', dtlsParameters: { role: 'auto' } });
    expect(recv.transportId).not.toBe(send.transportId);
    expect(since(mark, 'sfu.transport.create')).toEqual([]);
    for (const t of [send, recv]) {
      await b.client.request('connectTransport', {
        transportId: t.transportId,
        dtlsParameters: DTLS,
      });
    }
    // Only the first of each direction was prepared.
    await b.client.request('createTransport', { direction: 'recv' });
    expect(since(mark, 'sfu.transport.create')).toHaveLength(1);

    mark = sfu.calls.length;
    const l = await join(TENANTS.acme, 'lena', r, { role: 'listener' });
    expect(since(mark, 'sfu.room.open').map((x) => x.payload)).toEqual([
      expect.objectContaining({ peer: { peerId: l.join.peerId, transports: ['recv'] } }),
    ]);

    const full = room();
    const res = await fetch(`${sig.url}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' },
      body: JSON.stringify({ name: full, maxParticipants: 1 }),
    });
    expect(res.status).toBe(201);
    await join(TENANTS.acme, 'first', full);
    mark = sfu.calls.length;
    const c = client(sig, await tokenFor(TENANTS.acme, 'second', full));
    clients.push(c);
    await c.connect();
    await expectError(c.join(), 'ROOM_FULL');
    const refused = (since(mark, 'sfu.room.open')[0]?.payload as { peer: { peerId: string } }).peer
      .peerId;
    await eventually(() =>
      since(mark, 'sfu.peer.close').some(
        (x) => (x.payload as { peerId: string }).peerId === refused,
      ),
    );
  });

  it('join with createTransports answers the transports its grants allow, and a resume gets them back; without it, none', async () => {
    const r = room();
    await join(TENANTS.acme, 'alice', r);
    const mark = sfu.calls.length;
    const m = client(sig, await tokenFor(TENANTS.acme, 'mia', r));
    clients.push(m);
    await m.connect();
    const mj = await m.join({ createTransports: true });
    const created = mj.createdTransports ?? [];
    expect(created.map((t) => t.direction)).toEqual(['send', 'recv']);
    expect(created[0]?.transportId).not.toBe(created[1]?.transportId);
    // They came with the room open: no separate create at the SFU, and they are usable at once.
    expect(sfu.calls.slice(mark).filter((x) => x.subject === 'sfu.transport.create')).toEqual([]);
    for (const t of created) {
      expect(t).toMatchObject({ dtlsParameters: { role: 'auto' } });
      await m.request('connectTransport', { transportId: t.transportId, dtlsParameters: DTLS });
    }
    // They are the session's: a resumed session gets exactly them back (ICE restarted).
    const reconnected = new Promise<unknown>((resolve) => m.once('reconnected', resolve as never));
    m.dropForTest();
    const again = (await reconnected) as Awaited<ReturnType<SignalingClient['join']>>;
    expect(again.resumed).toBe(true);
    expect(again.transports.map((t) => [t.transportId, t.direction]).sort()).toEqual(
      created.map((t) => [t.transportId, t.direction]).sort(),
    );
    // A listener gets its recv transport only.
    const l = client(sig, await tokenFor(TENANTS.acme, 'leo', r, { role: 'listener' }));
    clients.push(l);
    await l.connect();
    const lj = await l.join({ createTransports: true });
    expect(lj.createdTransports?.map((t) => t.direction)).toEqual(['recv']);
    // Without the flag the answer has none (createTransport hands them out).
    const plain = await join(TENANTS.acme, 'pia', r);
    expect(plain.join.createdTransports).toBeUndefined();
    // A bad value is a schema violation.
    const bad = client(sig, await tokenFor(TENANTS.acme, 'bad', r));
    clients.push(bad);
    await bad.connect();
    await expectError(bad.join({ createTransports: 'yes' as never }), 'BAD_REQUEST');
  });

  it('nothing crosses tenants: same room name, separate rooms, and REST cannot reach the other tenant', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'alice', r);
    const ra = recorder(a.client);
    const g = await join(TENANTS.globex, 'gary', r);
    expect(g.join.peers).toEqual([]);
    const t = await g.client.request('createTransport', { direction: 'send' });
    await g.client.request('produce', {
      transportId: t.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    await new Promise((res) => setTimeout(res, 300));
    expect(ra.seen).toEqual([]);
    const res = await fetch(`${sig.url}/v1/rooms/${r}/participants`, {
      headers: { authorization: basicAuth(TENANTS.globex) },
    });
    const body = (await res.json()) as { participants: Array<{ identity: string }> };
    expect(body.participants.map((p) => p.identity)).toEqual(['gary']);
    // A globex token signed with globex's key cannot claim tenant acme.
    const forged = await mintToken({
      ...TENANTS.globex,
      tenant: 'acme',
      identity: 'mallory',
      room: r,
    });
    expect(await closeOf(`${sig.wsUrl}?token=${forged.token}`)).toEqual({
      code: WS_CLOSE.unauthorized,
      reason: expect.stringMatching(/^TOKEN_WRONG_TENANT/),
    });
  });

  it.each([
    ['no token', async () => '', 'TOKEN_MISSING'],
    ['a garbled token', async () => 'not.a.jwt', 'TOKEN_MALFORMED'],
    [
      'an expired token',
      async () => tokenFor(TENANTS.acme, 'x', 'r', { now: Date.now() - 3_600_000, ttlS: 60 }),
      'TOKEN_EXPIRED',
    ],
    [
      'a token not valid yet',
      async () => tokenFor(TENANTS.acme, 'x', 'r', { notBeforeS: 600 }),
      'TOKEN_NOT_YET_VALID',
    ],
    [
      'a badly signed token',
      async () => tokenFor({ ...TENANTS.acme, apiSecret: 'z'.repeat(40) }, 'x', 'r'),
      'TOKEN_BAD_SIGNATURE',
    ],
    [
      'a token of an unknown API key',
      async () => tokenFor({ ...TENANTS.acme, apiKey: 'APIunknown1' }, 'x', 'r'),
      'TOKEN_UNKNOWN_KEY',
    ],
  ])('%s closes the socket with 4001 and the precise reason', async (_what, make, code) => {
    const token = await make();
    const c = await closeOf(`${sig.wsUrl}${token ? `?token=${token}` : ''}`);
    expect(c.code).toBe(WS_CLOSE.unauthorized);
    expect(c.reason.startsWith(`${code}:`)).toBe(true);
  });

  it('bad frames get error responses (with the id when readable); a connection that keeps sending them is closed with 4008', async () => {
    const s = await rawSocket(
      `${sig.wsUrl}?token=${await tokenFor(TENANTS.acme, 'fuzzy', room())}`,
    );
    s.ws.send('this is not json');
    s.ws.send(JSON.stringify({ type: 'request', id: 7, method: 'fly', data: {} }));
    s.ws.send(
      JSON.stringify({
        type: 'request',
        id: 8,
        method: 'createTransport',
        data: { direction: 'up' },
      }),
    );
    s.ws.send(
      JSON.stringify({
        type: 'request',
        id: 9,
        method: 'ping',
        data: { t: 'x'.repeat(WS_MAX_FRAME_BYTES) },
      }),
    );
    s.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    await eventually(() => s.frames.length === 5);
    expect(s.frames.map((f) => [f['id'], (f['error'] as { code: string }).code])).toEqual([
      [null, 'BAD_REQUEST'],
      [7, 'UNKNOWN_METHOD'],
      [8, 'BAD_REQUEST'],
      [null, 'PAYLOAD_TOO_LARGE'],
      [null, 'BAD_REQUEST'],
    ]);
    expect((s.frames[2]?.['error'] as { details: unknown[] }).details.length).toBeGreaterThan(0);
    s.ws.send('{}');
    await eventually(() => s.closed());
    expect(s.closed()).toEqual({ code: WS_CLOSE.policy, reason: 'too many bad frames' });
  });

  it('requests before join get NOT_JOINED; ping works any time; a second join gets ALREADY_JOINED', async () => {
    const c = client(sig, await tokenFor(TENANTS.acme, 'early', room()));
    clients.push(c);
    await c.connect();
    await expectError(c.request('createTransport', { direction: 'recv' }), 'NOT_JOINED');
    const pong = await c.request('ping', { t: 42 });
    expect(pong.t).toBe(42);
    expect(Math.abs(pong.serverTime - Date.now())).toBeLessThan(5000);
    await c.join();
    await expectError(c.request('join', {}), 'ALREADY_JOINED');
  });

  it('an SFU that does not answer yields SFU_UNAVAILABLE within the deadline, and the failed join leaves no participant behind', async () => {
    const r = room();
    const c = client(sig, await tokenFor(TENANTS.acme, 'patient', r));
    clients.push(c);
    await c.connect();
    sfu.hang = true;
    const started = Date.now();
    const err = await expectError(c.join(), 'SFU_UNAVAILABLE');
    expect(err.retryable).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
    sfu.release();
    const res = await fetch(`${sig.url}/v1/rooms/${r}/participants`, {
      headers: { authorization: basicAuth(TENANTS.acme) },
    });
    expect(((await res.json()) as { participants: unknown[] }).participants).toEqual([]);
    // The same connection can join once the SFU answers again.
    const j = await c.join();
    expect(j.resumed).toBe(false);
  });

  it('a dropped socket reconnects within the grace period to the same peer, with ICE restarted on its transports; others see no peerLeft', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'alice', r);
    const b = await join(TENANTS.acme, 'bob', r);
    const rb = recorder(b.client);
    const send = await a.client.request('createTransport', { direction: 'send' });
    const recv = await a.client.request('createTransport', { direction: 'recv' });
    const reconnected = new Promise<Parameters<Parameters<SignalingClient['on']>[1]>[0]>(
      (resolve) => a.client.once('reconnected', resolve as never),
    );
    a.client.dropForTest();
    const again = (await reconnected) as Awaited<ReturnType<SignalingClient['join']>>;
    expect(again).toMatchObject({
      resumed: true,
      peerId: a.join.peerId,
      sessionId: a.join.sessionId,
    });
    expect(again.transports.map((t) => [t.transportId, t.direction]).sort()).toEqual(
      [
        [send.transportId, 'send'],
        [recv.transportId, 'recv'],
      ].sort(),
    );
    expect(
      again.transports.every((t) => typeof t.iceParameters['usernameFragment'] === 'string'),
    ).toBe(true);
    const restarts = sfu.calls.filter((x) => x.subject === 'sfu.transport.restartice');
    expect(restarts.length).toBeGreaterThanOrEqual(2);
    // Still works after resuming.
    await a.client.request('produce', {
      transportId: send.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    await eventually(() => rb.of('newProducer').length === 1);
    expect(rb.of('peerLeft')).toEqual([]);
  });

  it('a session not resumed within the grace period leaves: others hear peerLeft(disconnected) and the SFU peer is closed', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'alice', r);
    const b = await join(TENANTS.acme, 'bob', r);
    const rb = recorder(b.client);
    a.client.close(4000, 'gone');
    await eventually(() => rb.of('peerLeft').length === 1, 8000);
    expect(rb.of('peerLeft')[0]).toEqual({ peerId: a.join.peerId, reason: 'disconnected' });
    expect(
      sfu.calls.some(
        (x) =>
          x.subject === 'sfu.peer.close' &&
          (x.payload as { peerId: string }).peerId === a.join.peerId,
      ),
    ).toBe(true);
    // The stale session id now yields a fresh peer.
    const c = client(sig, await tokenFor(TENANTS.acme, 'alice', r));
    clients.push(c);
    await c.connect();
    const j = await c.resume(a.join.sessionId);
    expect(j.resumed).toBe(false);
    expect(j.peerId).not.toBe(a.join.peerId);
  });

  it('a room at max participants refuses the next join with ROOM_FULL', async () => {
    const r = room();
    const res = await fetch(`${sig.url}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' },
      body: JSON.stringify({ name: r, maxParticipants: 2 }),
    });
    expect(res.status).toBe(201);
    await join(TENANTS.acme, 'p1', r);
    await join(TENANTS.acme, 'p2', r);
    const c = client(sig, await tokenFor(TENANTS.acme, 'p3', r));
    clients.push(c);
    await c.connect();
    await expectError(c.join(), 'ROOM_FULL');
  });

  it('the same identity joining again replaces the old connection (removed: replaced, close 4003)', async () => {
    const r = room();
    const first = await join(TENANTS.acme, 'dup', r);
    const rf = recorder(first.client);
    const closed = new Promise<{ code: number }>((resolve) => first.client.once('close', resolve));
    const second = await join(TENANTS.acme, 'dup', r);
    expect((await closed).code).toBe(WS_CLOSE.removed);
    expect(rf.of('removed')).toEqual([{ reason: 'replaced' }]);
    expect(second.join.peers).toEqual([]);
  });

  it('an admin removes and mutes participants; the muted one cannot resume audio until unmuted', async () => {
    const r = room();
    const admin = await join(TENANTS.acme, 'boss', r, { role: 'admin' });
    const m = await join(TENANTS.acme, 'mia', r);
    const rm = recorder(m.client);
    const send = await m.client.request('createTransport', { direction: 'send' });
    const p = await m.client.request('produce', {
      transportId: send.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    const adminToken = await tokenFor(TENANTS.acme, 'boss', r, { role: 'admin' });
    const memberToken = await tokenFor(TENANTS.acme, 'mia', r);

    const denied = await fetch(`${sig.url}/v1/rooms/${r}/participants/boss/mute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${memberToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ muted: true }),
    });
    expect(denied.status).toBe(403);
    const muted = await fetch(`${sig.url}/v1/rooms/${r}/participants/mia/mute`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ muted: true }),
    });
    expect(muted.status).toBe(200);
    expect(await muted.json()).toEqual({ identity: 'mia', muted: true, producers: [p.producerId] });
    await eventually(() => rm.of('muted').length === 1);
    await expectError(m.client.request('resumeProducer', { producerId: p.producerId }), 'MUTED');
    const list = await fetch(`${sig.url}/v1/rooms/${r}/participants`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    const parts = (
      (await list.json()) as {
        participants: Array<{
          identity: string;
          muted: boolean;
          producers: Array<{ paused: boolean }>;
        }>;
      }
    ).participants;
    expect(parts.find((x) => x.identity === 'mia')).toMatchObject({
      muted: true,
      producers: [{ paused: true }],
    });

    await fetch(`${sig.url}/v1/rooms/${r}/participants/mia/mute`, {
      method: 'POST',
      headers: { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' },
      body: JSON.stringify({ muted: false }),
    });
    await eventually(() => rm.of('muted').length === 2);
    expect(rm.of('muted')[1]).toEqual({ muted: false, producers: [p.producerId] });

    const ra = recorder(admin.client);
    const closed = new Promise<{ code: number }>((resolve) => m.client.once('close', resolve));
    const del = await fetch(`${sig.url}/v1/rooms/${r}/participants/mia`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${adminToken}` },
    });
    expect(await del.json()).toEqual({ deleted: true });
    expect((await closed).code).toBe(WS_CLOSE.removed);
    expect(rm.of('removed')).toEqual([{ reason: 'removed' }]);
    await eventually(() => ra.of('peerLeft').length === 1);
    expect(ra.of('peerLeft')[0]).toEqual({ peerId: m.join.peerId, reason: 'removed' });
  });

  it('a connection gets a fresh token before its token expires', async () => {
    const r = room();
    const a = await join(TENANTS.acme, 'shortlived', r, { ttlS: 6 });
    const ra = recorder(a.client);
    const before = a.client.token;
    await eventually(() => ra.of('tokenRefreshed').length === 1, 10_000);
    const t = ra.of('tokenRefreshed')[0] as { token: string; expiresAt: number };
    expect(t.token).not.toBe(before);
    expect(a.client.token).toBe(t.token);
    expect(t.expiresAt).toBeGreaterThan(a.join.tokenExpiresAt);
  });
});
