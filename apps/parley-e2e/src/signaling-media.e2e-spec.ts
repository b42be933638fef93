import { execFileSync } from 'node:child_process';
import type {
  WsMethod,
  WsNotificationMethod,
  WsRequestData,
  WsResponseData,
} from '@parley/contracts';
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
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
} from 'werift';
import { WebSocket } from 'ws';

// Signaling end to end with real pieces: the real apps/signaling and apps/sfu processes (real
// mediasoup workers) on a private NATS, the shared Redis, and werift WebRTC clients that get their
// tokens over REST and talk the WebSocket protocol. (This app may not import @parley/client — its
// scope is `web` — so a minimal protocol client is inlined; the SDP glue is what mediasoup-client
// does in a browser.)

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TENANTS = [
  { tenant: 'acme', apiKey: 'APIacme0001', apiSecret: 'acme-secret-0123456789abcdefghijklmnop' },
  { tenant: 'globex', apiKey: 'APIglobex01', apiSecret: 'globex-secret-0123456789abcdefghijklmn' },
];
const OPUS_CAPS = {
  codecs: [
    {
      kind: 'audio',
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      preferredPayloadType: 100,
      rtcpFeedback: [],
    },
  ],
  headerExtensions: [],
};

/** Real Opus packets (libopus through ffmpeg), 20 ms each, from an Ogg stream. */
function opusPackets(seconds: number): Buffer[] {
  const ogg = execFileSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi'],
      ...['-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`],
      ...['-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-f', 'ogg', '-'],
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let off = 0;
  while (off + 27 <= ogg.length) {
    const segments = ogg[off + 26] ?? 0;
    let p = off + 27 + segments;
    for (let i = 0; i < segments; i++) {
      const len = ogg[off + 27 + i] ?? 0;
      partial.push(ogg.subarray(p, p + len));
      p += len;
      if (len < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    off = p;
  }
  return packets.slice(2);
}

/** A minimal client of the WebSocket protocol: requests by id, notifications collected. */
class ProtocolSocket {
  readonly notes: Array<{ method: WsNotificationMethod; data: Record<string, unknown> }> = [];
  closed?: { code: number; reason: string };
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (d: unknown) => void; reject: (e: Error) => void }
  >();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (buf: Buffer) => {
      const m = JSON.parse(buf.toString('utf8')) as {
        type: string;
        id?: number;
        ok?: boolean;
        data?: Record<string, unknown>;
        method?: WsNotificationMethod;
        error?: { code: string; message: string };
      };
      if (m.type === 'notification' && m.method)
        this.notes.push({ method: m.method, data: m.data ?? {} });
      if (m.type !== 'response' || typeof m.id !== 'number') return;
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.ok) p?.resolve(m.data);
      else
        p?.reject(
          Object.assign(new Error(`${m.error?.code}: ${m.error?.message}`), {
            code: m.error?.code,
          }),
        );
    });
    ws.on(
      'close',
      (code: number, reason: Buffer) => (this.closed = { code, reason: reason.toString() }),
    );
  }

  static async open(url: string, token: string): Promise<ProtocolSocket> {
    const ws = new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
    const s = new ProtocolSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return s;
  }

  request<M extends WsMethod>(method: M, data: WsRequestData<M>): Promise<WsResponseData<M>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject });
      this.ws.send(JSON.stringify({ type: 'request', id, method, data }));
    });
  }

  of(method: WsNotificationMethod): Array<Record<string, unknown>> {
    return this.notes.filter((n) => n.method === method).map((n) => n.data);
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  drop(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close();
  }
}

type Transport = WsResponseData<'createTransport'>;

function transportSdpLines(
  t: Pick<Transport, 'iceCandidates' | 'dtlsParameters'>,
  ice: Record<string, unknown>,
): string[] {
  const fps = t.dtlsParameters['fingerprints'] as { algorithm: string; value: string }[];
  const fp = fps.find((f) => f.algorithm === 'sha-256') ?? fps[0];
  if (!fp) throw new Error('transport has no fingerprint');
  const candidates = t.iceCandidates as {
    foundation: string;
    protocol: string;
    priority: number;
    address: string;
    port: number;
    tcpType?: string;
  }[];
  return [
    'c=IN IP4 127.0.0.1',
    `a=ice-ufrag:${String(ice['usernameFragment'])}`,
    `a=ice-pwd:${String(ice['password'])}`,
    ...candidates.map(
      (c) =>
        `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ host` +
        (c.protocol === 'tcp' ? ` tcptype ${c.tcpType ?? 'passive'}` : ''),
    ),
    'a=end-of-candidates',
    `a=fingerprint:${fp.algorithm} ${fp.value}`,
  ];
}

const sdpHeader = () => [
  'v=0',
  `o=mediasoup ${Date.now()} 1 IN IP4 127.0.0.1`,
  's=-',
  't=0 0',
  'a=ice-lite',
];

function clientDtls(sdp: string) {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  if (!fp?.[1] || !fp[2]) throw new Error('no fingerprint in the client SDP');
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1] ?? 'actpass';
  return {
    role: setup === 'passive' ? ('server' as const) : ('client' as const),
    fingerprints: [{ algorithm: fp[1].toLowerCase(), value: fp[2].toUpperCase() }],
  };
}

function peerConnection(): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
  });
}

/** Publishes Opus through signaling: createTransport(send) → connectTransport → produce. */
async function publish(s: ProtocolSocket, packets: Buffer[]) {
  const pc = peerConnection();
  const track = new MediaStreamTrack({ kind: 'audio' });
  const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription?.sdp ?? '';
  const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? '0';
  const pt = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(offer)?.[1]);
  const t = await s.request('createTransport', { direction: 'send' });
  await pc.setRemoteDescription({
    type: 'answer',
    sdp: [
      ...sdpHeader(),
      `a=group:BUNDLE ${mid}`,
      `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
      ...transportSdpLines(t, t.iceParameters),
      'a=setup:passive',
      `a=mid:${mid}`,
      'a=recvonly',
      'a=rtcp-mux',
      `a=rtpmap:${pt} opus/48000/2`,
      '',
    ].join('\r\n'),
  });
  await s.request('connectTransport', {
    transportId: t.transportId,
    dtlsParameters: clientDtls(offer),
  });
  const { producerId } = await s.request('produce', {
    transportId: t.transportId,
    kind: 'audio',
    rtpParameters: {
      mid,
      codecs: [
        {
          mimeType: 'audio/opus',
          payloadType: pt,
          clockRate: 48000,
          channels: 2,
          parameters: {},
          rtcpFeedback: [],
        },
      ],
      encodings: [{ ssrc: transceiver.sender.ssrc }],
      rtcp: { cname: 'sender', reducedSize: true },
    },
  });
  let seq = 0;
  const timer = setInterval(() => {
    const header = new RtpHeader({
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      payloadType: pt,
      marker: seq === 0,
    });
    track.writeRtp(new RtpPacket(header, packets[seq % packets.length] as Buffer));
    seq++;
  }, 20);
  return { producerId, close: () => (clearInterval(timer), void pc.close()) };
}

/** Consumes a producer through signaling and counts the RTP bytes that arrive. */
async function subscribe(s: ProtocolSocket, producerId: string) {
  const t = await s.request('createTransport', { direction: 'recv' });
  const consumer = await s.request('consume', {
    transportId: t.transportId,
    producerId,
    rtpCapabilities: OPUS_CAPS,
  });
  const pc = peerConnection();
  const rx = {
    transportId: t.transportId,
    consumer,
    packets: 0,
    bytes: 0,
    close: () => void pc.close(),
  };
  pc.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp) => {
      rx.packets++;
      rx.bytes += rtp.payload.length;
    }),
  );
  const params = consumer.rtpParameters as {
    mid?: string;
    codecs: { payloadType: number }[];
    encodings: { ssrc: number }[];
  };
  const pt = params.codecs[0]?.payloadType;
  const ssrc = params.encodings[0]?.ssrc;
  const mid = params.mid ?? '0';
  const offer = (ice: Record<string, unknown>) =>
    [
      ...sdpHeader(),
      `a=group:BUNDLE ${mid}`,
      `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
      ...transportSdpLines(t, ice),
      'a=setup:actpass',
      `a=mid:${mid}`,
      'a=sendonly',
      'a=rtcp-mux',
      `a=rtpmap:${pt} opus/48000/2`,
      `a=ssrc:${ssrc} cname:mediasoup`,
      '',
    ].join('\r\n');
  await pc.setRemoteDescription({ type: 'offer', sdp: offer(t.iceParameters) });
  await pc.setLocalDescription(await pc.createAnswer());
  await s.request('connectTransport', {
    transportId: t.transportId,
    dtlsParameters: clientDtls(pc.localDescription?.sdp ?? ''),
  });
  await s.request('resumeConsumer', { consumerId: consumer.consumerId });
  return {
    rx,
    /** Applies an ICE restart the server did (new remote ICE credentials), as mediasoup-client's transport.restartIce(). */
    restartIce: async (ice: Record<string, unknown>) => {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer(ice) });
      await pc.setLocalDescription(await pc.createAnswer());
    },
  };
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
