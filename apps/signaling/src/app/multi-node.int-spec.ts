import { WS_CLOSE } from '@parley/contracts';
import {
  type PrivateServer,
  eventually,
  freePort,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
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
const OPUS = {
  codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
};

describe('several signaling replicas on one Redis and NATS', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let a: TestSignaling;
  let b: TestSignaling;
  const prefix = `${testRunId()}:`;
  const env = () => ({
    NATS_URL: nats.url,
    REDIS_URL: REDIS,
    REDIS_KEY_PREFIX: prefix,
    SIGNALING_RECONNECT_GRACE_S: '1',
  });

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    a = await startSignaling(env());
    b = await startSignaling(env());
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  it('participants on different replicas see each other, their producers, and an admin removal made on the other replica', async () => {
    const room = `mn-${testRunId()}`;
    const alice = await joined(a, TENANTS.acme, 'alice', room);
    const bob = await joined(b, TENANTS.acme, 'bob', room);
    const seenByAlice: string[] = [];
    alice.client.on('newProducer', (p) => seenByAlice.push(p.producerId));
    expect(bob.join.peers.map((p) => p.identity)).toEqual(['alice']);
    const send = await bob.client.request('createTransport', { direction: 'send' });
    const p = await bob.client.request('produce', {
      transportId: send.transportId,
      kind: 'audio',
      rtpParameters: OPUS,
    });
    await eventually(() => seenByAlice.length === 1);
    expect(seenByAlice).toEqual([p.producerId]);

    const left: string[] = [];
    alice.client.on('peerLeft', (x) => left.push(`${x.peerId}:${x.reason}`));
    const closed = new Promise<{ code: number }>((resolve) => bob.client.once('close', resolve));
    // The REST call lands on replica A; Bob's socket is on replica B.
    const res = await fetch(`${a.url}/v1/rooms/${room}/participants/bob`, {
      method: 'DELETE',
      headers: { authorization: basicAuth(TENANTS.acme) },
    });
    expect(res.status).toBe(200);
    expect((await closed).code).toBe(WS_CLOSE.removed);
    await eventually(() => left.length === 1);
    expect(left).toEqual([`${bob.join.peerId}:removed`]);
    alice.client.close();
  });

  it('a session dropped on one replica resumes on another', async () => {
    const room = `mv-${testRunId()}`;
    const token = await tokenFor(TENANTS.acme, 'mover', room);
    const first = client(a, token, { reconnect: false });
    await first.connect();
    const j = await first.join();
    await first.request('createTransport', { direction: 'recv' });
    first.close(4000, 'moving');
    const second = client(b, token);
    await second.connect();
    const again = await second.resume(j.sessionId);
    expect(again).toMatchObject({ resumed: true, peerId: j.peerId });
    expect(again.transports).toHaveLength(1);
    second.close();
  });

  it('the sessions of a replica that died (no drain) enter their grace on a surviving replica, then leave', async () => {
    const port = await freePort();
    const dyingId = `dying-${testRunId()}`;
    const dying = spawnService('signaling', {
      ...env(),
      SIGNALING_HTTP_PORT: String(port),
      SIGNALING_TENANT_KEYS: JSON.stringify(Object.values(TENANTS)),
      PARLEY_NODE_ID: dyingId,
      LOG_LEVEL: 'warn',
    });
    try {
      await waitForHttp(`http://127.0.0.1:${port}/ready`, 200, 60_000);
      const room = `dead-${testRunId()}`;
      const survivor = await joined(b, TENANTS.acme, 'survivor', room);
      const left: Array<{ peerId: string; reason: string }> = [];
      survivor.client.on('peerLeft', (x) => left.push(x));
      const ghost = client(
        { ...a, wsUrl: `ws://127.0.0.1:${port}/v1/ws` },
        await tokenFor(TENANTS.acme, 'ghost', room),
        { reconnect: false },
      );
      await ghost.connect();
      const g = await ghost.join();
      // Let the dying replica record a heartbeat, then kill it without any cleanup.
      await new Promise((r) => setTimeout(r, 1500));
      dying.proc.kill('SIGKILL');
      await dying.exited;
      // Age its last heartbeat past the dead-node threshold instead of waiting 20 s: the
      // survivors' upkeep then declares it dead.
      await b.running.redis?.zadd('sig:nodes', Date.now() - 60_000, dyingId);
      await eventually(() => left.length === 1, 10_000);
      expect(left).toEqual([{ peerId: g.peerId, reason: 'disconnected' }]);
      survivor.client.close();
    } finally {
      await dying.stop();
    }
  });

  it('an empty room is deleted after its empty timeout and closed at the SFU', async () => {
    const room = `empty-${testRunId()}`;
    const res = await fetch(`${a.url}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' },
      body: JSON.stringify({ name: room, emptyTimeoutS: 1 }),
    });
    expect(res.status).toBe(201);
    const p = await joined(b, TENANTS.acme, 'visitor', room);
    await p.client.leave();
    await eventually(
      async () =>
        (
          await fetch(`${a.url}/v1/rooms/${room}`, {
            headers: { authorization: basicAuth(TENANTS.acme) },
          })
        ).status === 404,
      10_000,
    );
    await eventually(() =>
      sfu.calls.some(
        (c) =>
          c.subject === 'sfu.room.close' &&
          (c.payload as { roomId: string }).roomId === `acme--${room}`,
      ),
    );
  });
});
