import {
  type PrivateServer,
  type ServiceProcess,
  eventually,
  freePort,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
  mediasoupWorkerBin,
} from '@parley/testing';
import {
  OPUS_RECV_CAPS as OPUS_CAPS,
  ProtocolSocket,
  consumeProducer,
  opusPacketsOf,
  publishMicrophone,
} from '@parley/testing/webrtc';

// Signaling end to end with real pieces: the real apps/signaling and apps/sfu processes (real
// mediasoup workers) on a private NATS, the shared Redis, and werift WebRTC clients that get their
// tokens over REST and talk the WebSocket protocol (@parley/testing/webrtc: the SDP glue is what
// mediasoup-client does in a browser).

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TENANTS = [
  { tenant: 'acme', apiKey: 'APIacme0001', apiSecret: 'acme-secret-0123456789abcdefghijklmnop' },
  { tenant: 'globex', apiKey: 'APIglobex01', apiSecret: 'globex-secret-0123456789abcdefghijklmn' },
];
/** A 440 Hz tone as real Opus packets (libopus through ffmpeg), 20 ms each. */
const opusPackets = (seconds: number) =>
  opusPacketsOf(['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`]);

/** Publishes the packets (looped) through signaling: createTransport(send) → connect → produce. */
const publish = (s: ProtocolSocket, packets: Buffer[]) => publishMicrophone(s, packets);

/** Consumes a producer through signaling and counts the RTP that arrives. */
async function subscribe(s: ProtocolSocket, producerId: string) {
  const rx = await consumeProducer(s, producerId);
  return { rx, restartIce: rx.restartIce };
}

describe('signaling → SFU media path with real processes', () => {
  const run = testRunId('sig');
  let nats: PrivateServer;
  let sfu: ServiceProcess;
  let sig: ServiceProcess;
  let http: string;
  let wsUrl: string;
  let opus: Buffer[];
  const closers: Array<() => void> = [];

  async function token(
    tenant: (typeof TENANTS)[number],
    identity: string,
    room: string,
  ): Promise<string> {
    const res = await fetch(`${http}/v1/tokens`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${tenant.apiKey}:${tenant.apiSecret}`).toString('base64')}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ identity, room }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  }

  async function joined(tenant: (typeof TENANTS)[number], identity: string, room: string) {
    const s = await ProtocolSocket.open(wsUrl, await token(tenant, identity, room));
    closers.push(() => s.close());
    return { s, join: await s.request('join', { displayName: identity }) };
  }

  beforeAll(async () => {
    opus = opusPackets(2);
    nats = await startNatsServer();
    const [sfuPort, sigPort] = [await freePort(), await freePort()];
    sfu = spawnService('sfu', {
      NATS_URL: nats.url,
      SFU_HTTP_PORT: String(sfuPort),
      SFU_WORKERS: '1',
      SFU_LISTEN_IP: '127.0.0.1',
      SFU_RTC_PORT_BASE: '0',
      PARLEY_NODE_ID: `sfu-${run}`,
      MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
      LOG_LEVEL: 'warn',
    });
    sig = spawnService('signaling', {
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:`,
      SIGNALING_HTTP_PORT: String(sigPort),
      SIGNALING_TENANT_KEYS: JSON.stringify(TENANTS),
      SIGNALING_RECONNECT_GRACE_S: '20',
      PARLEY_NODE_ID: `signaling-${run}`,
      LOG_LEVEL: 'warn',
    });
    http = `http://127.0.0.1:${sigPort}`;
    wsUrl = `ws://127.0.0.1:${sigPort}/v1/ws`;
    await Promise.all([
      waitForHttp(`http://127.0.0.1:${sfuPort}/ready`, 200, 60_000),
      waitForHttp(`${http}/ready`, 200, 60_000),
    ]);
  });

  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  afterAll(async () => {
    await sig?.stop();
    await sfu?.stop();
    await nats?.dispose();
  });

  it('two clients of a tenant join one room: one publishes Opus, the other consumes it and receives RTP; a third client of another tenant cannot see or reach it', async () => {
    const room = `media-${run}`;
    const alice = await joined(TENANTS[0] as (typeof TENANTS)[number], 'alice', room);
    expect(JSON.stringify(alice.join.routerRtpCapabilities)).toContain('audio/opus');
    const tx = await publish(alice.s, opus);
    closers.push(tx.close);

    const bob = await joined(TENANTS[0] as (typeof TENANTS)[number], 'bob', room);
    expect(bob.join.peers.map((p) => p.identity)).toEqual(['alice']);
    expect(bob.join.producers.map((p) => p.producerId)).toEqual([tx.producerId]);
    const sub = await subscribe(bob.s, tx.producerId);
    closers.push(sub.rx.close);
    await eventually(() => sub.rx.packets >= 50, 20_000);
    expect(sub.rx.bytes).toBeGreaterThan(0);
    expect(sub.rx.consumer).toMatchObject({
      producerId: tx.producerId,
      peerId: alice.join.peerId,
      kind: 'audio',
    });
    await eventually(() => alice.s.of('peerJoined').length === 1);

    // Another tenant, same room name: a different room. It sees nobody, hears nothing, reaches nothing.
    const gary = await joined(TENANTS[1] as (typeof TENANTS)[number], 'gary', room);
    expect(gary.join.peers).toEqual([]);
    expect(gary.join.producers).toEqual([]);
    const gt = await gary.s.request('createTransport', { direction: 'recv' });
    const refused = await gary.s
      .request('consume', {
        transportId: gt.transportId,
        producerId: tx.producerId,
        rtpCapabilities: OPUS_CAPS,
      })
      .catch((e: { code?: string }) => e.code);
    expect(refused).toBe('NOT_FOUND');
    const participants = await fetch(`${http}/v1/rooms/${room}/participants`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${TENANTS[1]?.apiKey}:${TENANTS[1]?.apiSecret}`).toString('base64')}`,
      },
    });
    expect(
      (
        (await participants.json()) as { participants: Array<{ identity: string }> }
      ).participants.map((p) => p.identity),
    ).toEqual(['gary']);
    await new Promise((r) => setTimeout(r, 300));
    expect(
      alice.s.of('peerJoined').map((p) => (p['peer'] as { identity: string }).identity),
    ).toEqual(['bob']);
    expect(bob.s.notes.filter((n) => n.method === 'peerJoined')).toEqual([]);
  });

  it('a client whose socket drops reconnects within the grace period, resumes its session with an ICE restart, and media flows again', async () => {
    const room = `resume-${run}`;
    const alice = await joined(TENANTS[0] as (typeof TENANTS)[number], 'alice', room);
    const tx = await publish(alice.s, opus);
    closers.push(tx.close);
    const bobToken = await token(TENANTS[0] as (typeof TENANTS)[number], 'bob', room);
    const bob = await ProtocolSocket.open(wsUrl, bobToken);
    const first = await bob.request('join', {});
    const sub = await subscribe(bob, tx.producerId);
    closers.push(sub.rx.close);
    await eventually(() => sub.rx.packets >= 25, 20_000);

    bob.drop();
    await new Promise((r) => setTimeout(r, 500));
    const again = await ProtocolSocket.open(wsUrl, bobToken);
    closers.push(() => again.close());
    const resumed = await again.request('join', { sessionId: first.sessionId });
    expect(resumed).toMatchObject({ resumed: true, peerId: first.peerId });
    expect(resumed.transports).toEqual([
      { transportId: sub.rx.transportId, direction: 'recv', iceParameters: expect.any(Object) },
    ]);
    const ice = resumed.transports[0]?.iceParameters ?? {};
    await sub.restartIce(ice);
    const before = sub.rx.packets;
    await eventually(() => sub.rx.packets >= before + 50, 20_000);
    // Alice never saw Bob leave.
    expect(alice.s.of('peerLeft')).toEqual([]);
    expect(sig.proc.exitCode).toBeNull();
  });
});
