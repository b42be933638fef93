import { Writable } from 'node:stream';
import {
  type EventContract,
  type PayloadOf,
  type RequestOf,
  type ResponseOf,
  sfuContracts,
  sfuEvents,
} from '@parley/contracts';
import { MessagingError, NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
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
  OPUS_RECV_CAPS,
  clientDtls,
  opusRtpParameters,
  peerConnection,
  sdpHeader,
  tonePackets,
  transportSdpLines,
} from '@parley/testing/webrtc';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';

// The real apps/sfu process (real mediasoup workers) driven over a private NATS server exactly as
// signaling drives it: werift WebRTC clients do ICE-lite + DTLS-SRTP against the SFU's
// WebRtcServers, with the SDP glue mediasoup-client would do in a browser.

type Contracts = typeof sfuContracts;
type ConsumerInfo = ResponseOf<typeof sfuContracts.consumerCreate>;

const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';
const opusPackets = tonePackets;
const newPeerConnection = () => peerConnection({ audioLevel: true });

/** A NATS-side view of one SFU node, as signaling would hold it. */
class SfuApi {
  constructor(
    readonly nats: NatsMessaging,
    readonly nodeId: string,
  ) {}

  /** A request directed at the node, as signaling sends it. */
  call<K extends keyof Contracts>(
    name: K,
    payload: RequestOf<Contracts[K]>,
  ): Promise<ResponseOf<Contracts[K]>> {
    return this.nats.request(sfuContracts[name], payload as never, {
      tokens: [this.nodeId],
    }) as Promise<ResponseOf<Contracts[K]>>;
  }

  /** The error code a call is refused with (fails the test if it succeeds). */
  async codeOf<K extends keyof Contracts>(name: K, payload: object): Promise<string> {
    try {
      await this.call(name, payload as RequestOf<Contracts[K]>);
    } catch (err) {
      if (err instanceof MessagingError && err.remote) return err.code;
      throw err;
    }
    throw new Error(`${String(name)} unexpectedly succeeded`);
  }
}

/** A werift client sending Opus packets (with an audio level extension) as a producer. */
interface Sender {
  producerId: string;
  transportId: string;
  sent: Set<string>;
  close(): void;
}

async function connectSender(
  api: SfuApi,
  roomId: string,
  peerId: string,
  packets: Buffer[],
): Promise<Sender> {
  const pc = newPeerConnection();
  const track = new MediaStreamTrack({ kind: 'audio' });
  const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
  await pc.setLocalDescription(await pc.createOffer());
  const offer = pc.localDescription?.sdp ?? '';
  const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? '0';
  const pt = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(offer)?.[1]);
  const levelId = Number(
    /a=extmap:(\d+)(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(offer)?.[1],
  );
  const t = await api.call('transportCreate', { roomId, peerId, direction: 'send' });
  const answer = [
    ...sdpHeader(),
    `a=group:BUNDLE ${mid}`,
    'a=msid-semantic: WMS *',
    `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
    ...transportSdpLines(t),
    'a=setup:passive',
    `a=mid:${mid}`,
    'a=recvonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    `a=extmap:${levelId} ${AUDIO_LEVEL_URI}`,
    `a=rtpmap:${pt} opus/48000/2`,
    `a=fmtp:${pt} minptime=10;useinbandfec=1`,
    '',
  ].join('\r\n');
  await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  await api.call('transportConnect', {
    roomId,
    peerId,
    transportId: t.transportId,
    dtlsParameters: clientDtls(offer),
  });
  const { producerId } = await api.call('producerCreate', {
    roomId,
    peerId,
    transportId: t.transportId,
    kind: 'audio',
    rtpParameters: opusRtpParameters({
      mid,
      payloadType: pt,
      ssrc: transceiver.sender.ssrc,
      cname: `${peerId}-cname`,
      parameters: { minptime: 10, useinbandfec: 1 },
      headerExtensions: [{ uri: AUDIO_LEVEL_URI, id: levelId, encrypt: false, parameters: {} }],
    }),
  });
  const sent = new Set<string>();
  let seq = 0;
  const timer = setInterval(() => {
    const payload = packets[seq % packets.length] as Buffer;
    sent.add(payload.toString('hex'));
    // -20 dBov with the voice activity bit: loud enough for the AudioLevelObserver.
    const level = { id: levelId, payload: Buffer.from([0x80 | 20]) };
    const header = new RtpHeader({
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      payloadType: pt,
      marker: seq === 0,
      extensions: [level],
    });
    track.writeRtp(new RtpPacket(header, payload));
    seq++;
  }, 20);
  return {
    producerId,
    transportId: t.transportId,
    sent,
    close: () => {
      clearInterval(timer);
      void pc.close();
    },
  };
}

/** A werift client consuming one producer and counting the RTP it receives. */
interface Receiver {
  consumer: ConsumerInfo;
  packets: number;
  bytes: number;
  payloadTypes: Set<number>;
  payloads: string[];
  close(): void;
}

async function connectReceiver(
  api: SfuApi,
  roomId: string,
  peerId: string,
  producerId: string,
): Promise<Receiver> {
  const t = await api.call('transportCreate', { roomId, peerId, direction: 'recv' });
  const consumer = await api.call('consumerCreate', {
    roomId,
    peerId,
    transportId: t.transportId,
    producerId,
    rtpCapabilities: OPUS_RECV_CAPS,
  });
  const pc = newPeerConnection();
  const rx: Receiver = {
    consumer,
    packets: 0,
    bytes: 0,
    payloadTypes: new Set(),
    payloads: [],
    close: () => void pc.close(),
  };
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      rx.packets++;
      rx.bytes += rtp.payload.length;
      rx.payloadTypes.add(rtp.header.payloadType);
      if (rx.payloads.length < 200) rx.payloads.push(rtp.payload.toString('hex'));
    });
  });
  const params = consumer.rtpParameters as {
    mid?: string;
    codecs: { payloadType: number; parameters?: Record<string, unknown> }[];
    encodings: { ssrc: number }[];
    rtcp?: { cname?: string };
  };
  const codec = params.codecs[0];
  const ssrc = params.encodings[0]?.ssrc;
  if (!codec || ssrc === undefined) throw new Error('consumer has no codec/ssrc');
  const mid = params.mid ?? '0';
  const fmtp = Object.entries(codec.parameters ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
  const offer = [
    ...sdpHeader(),
    `a=group:BUNDLE ${mid}`,
    'a=msid-semantic: WMS *',
    `m=audio 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
    ...transportSdpLines(t),
    'a=setup:actpass',
    `a=mid:${mid}`,
    'a=sendonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    `a=msid:parley ${consumer.consumerId}`,
    `a=rtpmap:${codec.payloadType} opus/48000/2`,
    ...(fmtp ? [`a=fmtp:${codec.payloadType} ${fmtp}`] : []),
    `a=ssrc:${ssrc} cname:${params.rtcp?.cname ?? 'mediasoup'}`,
    `a=ssrc:${ssrc} msid:parley ${consumer.consumerId}`,
    '',
  ].join('\r\n');
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  await api.call('transportConnect', {
    roomId,
    peerId,
    transportId: t.transportId,
    dtlsParameters: clientDtls(pc.localDescription?.sdp ?? ''),
  });
  await api.call('consumerResume', { roomId, peerId, consumerId: consumer.consumerId });
  return rx;
}

/** Collects the events of one contract (and trailing tokens) until `stop()`. */
async function collect<E extends EventContract>(
  nats: NatsMessaging,
  event: E,
  tokens: string[] = [],
): Promise<{ events: PayloadOf<E>[]; stop: () => void }> {
  const events: PayloadOf<E>[] = [];
  const stop = nats.subscribe(event, (e) => void events.push(e), { tokens });
  // The subscription must be known to the server before anything is triggered.
  await nats.connection.flush();
  return { events, stop };
}

describe('apps/sfu over NATS with real mediasoup workers', () => {
  const run = testRunId('sfu');
  const nodeId = `sfu-${run}`;
  const closers: (() => void)[] = [];
  let nats: PrivateServer;
  let sfu: ServiceProcess;
  let client: NatsMessaging;
  let api: SfuApi;
  let httpUrl: string;
  let opus: Buffer[];

  async function readiness(): Promise<{ ok: boolean; reason?: string }> {
    const body = (await (await fetch(`${httpUrl}/ready`)).json()) as {
      checks: { name: string; ok: boolean; reason?: string }[];
    };
    const check = body.checks.find((c) => c.name === 'mediasoup');
    if (!check) throw new Error('/ready has no mediasoup check');
    return check;
  }

  async function workerPids(): Promise<number[]> {
    const { reason = '' } = await readiness();
    return (/pids ([\d,]+)/.exec(reason)?.[1] ?? '').split(',').filter(Boolean).map(Number);
  }

  function track<T extends { close(): void }>(c: T): T {
    closers.push(() => c.close());
    return c;
  }

  beforeAll(async () => {
    opus = opusPackets(2);
    nats = await startNatsServer();
    const port = await freePort();
    httpUrl = `http://127.0.0.1:${port}`;
    sfu = spawnService('sfu', {
      NATS_URL: nats.url,
      SFU_HTTP_PORT: String(port),
      SFU_WORKERS: '2',
      SFU_LISTEN_IP: '127.0.0.1',
      SFU_RTC_PORT_BASE: '0',
      SFU_STATS_INTERVAL_MS: '500',
      SFU_WORKER_POLL_MS: '500',
      SFU_AUDIO_LEVEL_INTERVAL_MS: '300',
      PARLEY_NODE_ID: nodeId,
      MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
      LOG_LEVEL: 'info',
    });
    await waitForHttp(`${httpUrl}/ready`, 200, 60_000);
    client = new NatsMessaging({
      servers: [nats.url],
      name: `e2e-${run}`,
      queue: 'e2e',
      logger: createLogger({
        service: 'e2e',
        nodeId: run,
        level: 'error',
        stream: new Writable({ write: (_c, _e, cb) => cb() }),
      }),
    });
    client.start();
    await client.waitUntilConnected();
    api = new SfuApi(client, nodeId);
  });

  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  afterAll(async () => {
    await client?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  it('/ready reports every mediasoup worker with its pid', async () => {
    const check = await readiness();
    expect(check.ok).toBe(true);
    expect(check.reason).toMatch(/^2\/2 mediasoup workers up \(pids \d+,\d+\)$/);
    for (const pid of await workerPids()) expect(() => process.kill(pid, 0)).not.toThrow();
  });

  it('a werift client produces Opus through the NATS API and a second werift client receives it as Opus RTP', async () => {
    const roomId = `flow-${run}`;
    const opened = await client.request(sfuContracts.roomOpen, { roomId });
    expect(opened).toMatchObject({ roomId, nodeId, created: true });
    expect(JSON.stringify(opened.rtpCapabilities)).toContain('audio/opus');
    await expect(api.call('roomOpen', { roomId })).resolves.toMatchObject({ created: false });
    const producers = await collect(client, sfuEvents.producerOpened, [roomId]);
    const speakers = await collect(client, sfuEvents.activeSpeaker, [roomId]);
    closers.push(producers.stop, speakers.stop);

    const tx = track(await connectSender(api, roomId, 'alice', opus));
    const rx = track(await connectReceiver(api, roomId, 'bob', tx.producerId));

    await eventually(() => rx.packets >= 50, 20_000);
    expect(rx.consumer).toMatchObject({ producerId: tx.producerId, producerPeerId: 'alice' });
    const codec = (
      rx.consumer.rtpParameters['codecs'] as { mimeType: string; payloadType: number }[]
    )[0];
    expect(codec?.mimeType.toLowerCase()).toBe('audio/opus');
    expect(rx.bytes).toBeGreaterThan(0);
    expect([...rx.payloadTypes]).toEqual([codec?.payloadType]);
    // The SFU forwards the libopus packets untouched: every payload is one that alice sent, and its
    // TOC byte says one 20 ms frame (RFC 6716 §3.1: SILK 1/5/9, hybrid 13/15, CELT 19/23/27/31).
    expect(rx.payloads.filter((p) => !tx.sent.has(p))).toEqual([]);
    const twentyMs = new Set([1, 5, 9, 13, 15, 19, 23, 27, 31]);
    const tocs = rx.payloads.map((p) => Number.parseInt(p.slice(0, 2), 16));
    expect(tocs.filter((toc) => !twentyMs.has(toc >> 3) || (toc & 3) !== 0)).toEqual([]);

    expect(producers.events).toEqual([
      { roomId, peerId: 'alice', producerId: tx.producerId, kind: 'audio', paused: false },
    ]);
    await eventually(() => speakers.events.some((e) => e.peerId === 'alice'), 10_000);
    const level = speakers.events.find((e) => e.peerId === 'alice')?.volumes[0];
    expect(level).toEqual({ peerId: 'alice', dBov: -20 });

    const stats = await api.call('roomStats', { roomId });
    expect(stats).toMatchObject({ roomId, peers: 2, producers: 1, consumers: 1, transports: 2 });
    expect(await workerPids()).toContain(stats.workerPid);
    const metrics = await eventually(async () => {
      const text = await (await fetch(`${httpUrl}/metrics`)).text();
      return /parley_sfu_bitrate_bits_per_second\{direction="out"[^}]*\} [1-9]/.test(text) && text;
    }, 10_000);
    expect(metrics).toMatch(/parley_sfu_consumers\{worker="\d"[^}]*\} 1\n/);
    expect(metrics).toMatch(/parley_sfu_rooms\{[^}]*\} 1\n/);
    expect(metrics).toMatch(/parley_sfu_worker_cpu_percent\{worker="\d"/);

    await expect(api.call('roomClose', { roomId })).resolves.toEqual({ closed: true });
  });

  it('sfu.room.open with a joining peer also joins it and creates its transports, in one request', async () => {
    const roomId = `openpeer-${run}`;
    await api.call('roomOpen', { roomId });
    const opened = await api.call('roomOpen', {
      roomId,
      peer: { peerId: 'carol', transports: ['send', 'recv'] },
    });
    expect(opened).toMatchObject({ roomId, nodeId, created: false });
    const [send, recv] = opened.transports ?? [];
    expect([send?.direction, recv?.direction]).toEqual(['send', 'recv']);
    expect(send?.transportId).not.toBe(recv?.transportId);
    expect(recv?.iceCandidates.length).toBeGreaterThan(0);
    expect(recv?.dtlsParameters).toHaveProperty('fingerprints');
    const fingerprint = Array.from({ length: 32 }, () => 'AB').join(':');
    await api.call('transportConnect', {
      roomId,
      peerId: 'carol',
      transportId: send?.transportId ?? '',
      dtlsParameters: {
        role: 'client',
        fingerprints: [{ algorithm: 'sha-256', value: fingerprint }],
      },
    });
    expect(await api.call('roomStats', { roomId })).toMatchObject({ peers: 1, transports: 2 });
    await api.call('peerClose', { roomId, peerId: 'carol' });
    expect(await api.call('roomStats', { roomId })).toMatchObject({ peers: 0, transports: 0 });
    await api.call('roomClose', { roomId });
  });

  it('bad input gets typed error replies, and the process and its workers keep serving', async () => {
    const pids = await workerPids();
    const roomId = `bad-${run}`;
    await api.call('roomOpen', { roomId });
    const peer = { roomId, peerId: 'mallory' };
    const fakeDtls = {
      role: 'client' as const,
      fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }],
    };
    const t = await api.call('transportCreate', { ...peer, direction: 'send' });
    const opusCodec = { mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 };

    expect(
      await api.codeOf('transportCreate', { ...peer, roomId: 'nope', direction: 'send' }),
    ).toBe('NOT_FOUND');
    expect(
      await api.codeOf('transportConnect', {
        ...peer,
        transportId: 'nope',
        dtlsParameters: fakeDtls,
      }),
    ).toBe('NOT_FOUND');
    expect(await api.codeOf('producerClose', { ...peer, producerId: 'nope' })).toBe('NOT_FOUND');
    expect(await api.codeOf('consumerResume', { ...peer, consumerId: 'nope' })).toBe('NOT_FOUND');
    expect(await api.codeOf('peerClose', { roomId, peerId: 'nobody' })).toBe('NOT_FOUND');
    expect(
      await api.codeOf('consumerCreate', {
        ...peer,
        transportId: t.transportId,
        producerId: 'nope',
        rtpCapabilities: OPUS_RECV_CAPS,
      }),
    ).toBe('NOT_FOUND');
    expect(
      await api.codeOf('producerCreate', {
        ...peer,
        transportId: t.transportId,
        kind: 'audio',
        rtpParameters: {
          codecs: [{ mimeType: 'audio/x-nonsense', payloadType: 99, clockRate: 8000 }],
          encodings: [{ ssrc: 1111 }],
        },
      }),
    ).toBe('BAD_RTP_PARAMETERS');
    expect(
      await api.codeOf('producerCreate', {
        ...peer,
        transportId: t.transportId,
        kind: 'audio',
        rtpParameters: { codecs: [{ ...opusCodec, payloadType: 'x' }], encodings: [{}] },
      }),
    ).toBe('BAD_RTP_PARAMETERS');
    // A video producer in an audio-only room: mediasoup has no codec for it.
    expect(
      await api.codeOf('producerCreate', {
        ...peer,
        transportId: t.transportId,
        kind: 'video',
        rtpParameters: {
          codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }],
          encodings: [{ ssrc: 2222 }],
        },
      }),
    ).toBe('BAD_RTP_PARAMETERS');

    // A real producer, then a consumer whose device only knows PCMU: incompatible capabilities.
    const { producerId } = await api.call('producerCreate', {
      ...peer,
      transportId: t.transportId,
      kind: 'audio',
      rtpParameters: { codecs: [opusCodec], encodings: [{ ssrc: 3333 }] },
    });
    const recv = await api.call('transportCreate', { ...peer, direction: 'recv' });
    expect(
      await api.codeOf('consumerCreate', {
        ...peer,
        transportId: recv.transportId,
        producerId,
        rtpCapabilities: {
          codecs: [
            { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0 },
          ],
        },
      }),
    ).toBe('CANNOT_CONSUME');
    expect(
      await api.codeOf('consumerCreate', {
        ...peer,
        transportId: recv.transportId,
        producerId,
        rtpCapabilities: { codecs: [{ mimeType: 42 }] },
      }),
    ).toBe('CANNOT_CONSUME');

    await api.call('transportConnect', {
      ...peer,
      transportId: t.transportId,
      dtlsParameters: fakeDtls,
    });
    expect(
      await api.codeOf('transportConnect', {
        ...peer,
        transportId: t.transportId,
        dtlsParameters: fakeDtls,
      }),
    ).toBe('ALREADY_CONNECTED');

    // Payloads that fail the contract's schema never reach a handler: BAD_REQUEST from the server.
    for (const raw of [
      '{not json',
      JSON.stringify({ roomId: 'a.b', peerId: 'p', direction: 'x' }),
    ]) {
      const reply = await client.connection.request(
        `${sfuContracts.transportCreate.subject}.${nodeId}`,
        new TextEncoder().encode(raw),
        { timeout: 5000 },
      );
      const body = JSON.parse(new TextDecoder().decode(reply.data)) as {
        ok: boolean;
        error?: { code: string };
      };
      expect(body).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    }

    await expect(api.call('roomClose', { roomId })).resolves.toEqual({ closed: true });
    await expect(api.call('roomClose', { roomId })).resolves.toEqual({ closed: false });
    expect(await api.codeOf('transportCreate', { ...peer, direction: 'send' })).toBe('NOT_FOUND');
    expect(await api.codeOf('roomStats', { roomId })).toBe('NOT_FOUND');

    expect(sfu.proc.exitCode).toBeNull();
    expect(await workerPids()).toEqual(pids);
    await api.call('roomOpen', { roomId });
    await expect(
      api.call('transportCreate', { ...peer, direction: 'send' }),
    ).resolves.toHaveProperty('transportId');
    await api.call('roomClose', { roomId });
  });

  it('kill -9 of a worker: a new worker, the room re-created, sfu.room.reset and sfu.worker.replaced on NATS, and media flows again', async () => {
    const roomId = `crash-${run}`;
    await api.call('roomOpen', { roomId });
    const tx = track(await connectSender(api, roomId, 'alice', opus));
    const rx = track(await connectReceiver(api, roomId, 'bob', tx.producerId));
    await eventually(() => rx.packets >= 10, 20_000);
    const { workerPid } = await api.call('roomStats', { roomId });
    const resets = await collect(client, sfuEvents.roomReset, [roomId]);
    const replaced = await collect(client, sfuEvents.workerReplaced);
    closers.push(resets.stop, replaced.stop);

    process.kill(workerPid, 'SIGKILL');

    await eventually(() => resets.events.length > 0 && replaced.events.length > 0, 20_000);
    expect(resets.events).toEqual([{ roomId, reason: 'worker_died', nodeId }]);
    expect(replaced.events).toHaveLength(1);
    const [event] = replaced.events;
    expect(event).toMatchObject({ nodeId, deadPid: workerPid, rooms: [roomId] });
    expect(event?.newPid).not.toBe(workerPid);
    expect(() => process.kill(event?.newPid ?? 0, 0)).not.toThrow();
    await eventually(async () => (await readiness()).reason?.startsWith('2/2'), 10_000);
    const pids = await workerPids();
    expect(pids).toContain(event?.newPid);
    expect(pids).not.toContain(workerPid);

    // The room is back, empty, on a live worker; the peers reconnect and media flows again.
    const fresh = await api.call('roomStats', { roomId });
    expect(fresh).toMatchObject({ roomId, peers: 0, producers: 0 });
    expect(fresh.workerPid).not.toBe(workerPid);
    await expect(api.call('roomOpen', { roomId })).resolves.toMatchObject({ created: false });
    const tx2 = track(await connectSender(api, roomId, 'alice', opus));
    const rx2 = track(await connectReceiver(api, roomId, 'bob', tx2.producerId));
    await eventually(() => rx2.packets >= 25, 20_000);
    expect(sfu.proc.exitCode).toBeNull();
    const metrics = await (await fetch(`${httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/parley_sfu_worker_replacements_total\{[^}]*\} 1\n/);
    expect(metrics).toMatch(/parley_sfu_workers\{state="live"[^}]*\} 2\n/);
    await api.call('roomClose', { roomId });
  });

  it('a room left empty closes after its idle timeout and says so with sfu.room.reset', async () => {
    const roomId = `idle-${run}`;
    const resets = await collect(client, sfuEvents.roomReset, [roomId]);
    closers.push(resets.stop);
    await api.call('roomOpen', { roomId, options: { emptyTimeoutS: 1 } });
    await api.call('transportCreate', { roomId, peerId: 'p', direction: 'send' });
    await new Promise((r) => setTimeout(r, 1500));
    // A peer keeps the room open past the timeout; leaving starts the countdown.
    expect(resets.events).toEqual([]);
    await api.call('peerClose', { roomId, peerId: 'p' });
    await eventually(() => resets.events.length > 0, 5000);
    expect(resets.events).toEqual([{ roomId, reason: 'idle', nodeId }]);
    expect(await api.codeOf('roomStats', { roomId })).toBe('NOT_FOUND');
  });

  it('SIGTERM closes the rooms and the worker pool, and the process exits 0', async () => {
    const roomId = `bye-${run}`;
    await api.call('roomOpen', { roomId });
    const resets = await collect(client, sfuEvents.roomReset, [roomId]);
    closers.push(resets.stop);
    const pids = await workerPids();
    await sfu.stop();
    expect(await sfu.exited).toBe(0);
    await eventually(() => resets.events.length > 0, 5000);
    expect(resets.events).toEqual([{ roomId, reason: 'closed', nodeId }]);
    // The pool SIGTERMs its workers; they are gone moments later (not orphaned).
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await eventually(() => pids.every((pid) => !alive(pid)), 5000);
  });
});
