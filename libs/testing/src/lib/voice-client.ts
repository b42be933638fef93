// A real Node WebRTC participant (werift) of Parley's WebSocket protocol, for the end-to-end tests
// and benchmarks of the voice loop: it joins with a token, publishes an Opus track that carries
// silence until told to speak an utterance (real Opus packets, libopus through ffmpeg, from a WAV
// made by espeak-ng), consumes producers and timestamps every RTP packet it receives. The SDP glue
// is what mediasoup-client does in a browser.
import { execFileSync } from 'node:child_process';
import type {
  WsMethod,
  WsNotificationMethod,
  WsRequestData,
  WsResponseData,
} from '@parley/contracts';
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  useAudioLevelIndication,
} from 'werift';
import { WebSocket } from 'ws';

/** Opus receive capabilities of the test client. */
export const OPUS_RECV_CAPS = {
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

/** Splits an Ogg/Opus stream into its packets (dropping the two header packets). */
export function oggOpusPackets(ogg: Buffer): Buffer[] {
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

/** 20 ms Opus packets (48 kHz) of any audio file or lavfi source, encoded by ffmpeg's libopus. */
export function opusPacketsOf(input: string[], extraFilters: string[] = []): Buffer[] {
  const ogg = execFileSync(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', ...input],
      ...extraFilters,
      ...['-ar', '48000', '-ac', '1', '-c:a', 'libopus', '-b:a', '32k'],
      ...['-frame_duration', '20', '-application', 'voip', '-f', 'ogg', '-'],
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return oggOpusPackets(ogg);
}

/** `seconds` of a 440 Hz tone as 20 ms Opus packets. */
export function tonePackets(seconds: number): Buffer[] {
  return opusPacketsOf([
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${seconds}`],
  ]);
}

/** Speech for a test: espeak-ng renders `text` to WAV, returned as 20 ms Opus packets. */
export function speechPackets(text: string, wavPath: string): Buffer[] {
  execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', wavPath, text]);
  return opusPacketsOf(['-i', wavPath]);
}

/** `seconds` of digital silence as 20 ms Opus packets. */
export function silencePackets(seconds: number): Buffer[] {
  return opusPacketsOf(['-f', 'lavfi', '-i', `anullsrc=r=48000:cl=mono:d=${seconds}`]);
}

type Notification = { method: WsNotificationMethod; data: Record<string, unknown>; at: number };

/** A minimal client of the WebSocket protocol: requests by id, notifications timestamped. */
export class ProtocolSocket {
  readonly notes: Notification[] = [];
  closed?: { code: number; reason: string };
  private nextId = 1;
  private readonly waiters = new Set<() => void>();
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
      if (m.type === 'notification' && m.method) {
        this.notes.push({ method: m.method, data: m.data ?? {}, at: Date.now() });
        for (const w of this.waiters) w();
      }
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

  /** Data of every notification of a method received so far. */
  of(method: WsNotificationMethod): Array<Record<string, unknown>> {
    return this.notes.filter((n) => n.method === method).map((n) => n.data);
  }

  /** Resolves with the first notification (from `since` on) that matches, or rejects at the deadline. */
  waitFor(
    method: WsNotificationMethod,
    match: (data: Record<string, unknown>) => boolean = () => true,
    timeoutMs = 10_000,
    since = 0,
  ): Promise<Notification> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const n = this.notes.slice(since).find((x) => x.method === method && match(x.data));
        if (!n) return false;
        cleanup();
        resolve(n);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${method} notification within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = () => void check();
      if (check()) return;
      this.waiters.add(waiter);
    });
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  drop(): void {
    this.ws.terminate();
  }

  close(): void {
    this.ws.close();
  }
}

/** SDP lines (connection, ICE, candidates, fingerprint) of a mediasoup WebRTC transport. */
export function transportSdpLines(
  t: {
    iceCandidates: Array<Record<string, unknown>>;
    dtlsParameters: Record<string, unknown>;
    iceParameters?: Record<string, unknown>;
  },
  ice: Record<string, unknown> = t.iceParameters ?? {},
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

/** Session-level lines of an SDP describing the (ICE-lite) SFU. */
export const sdpHeader = () => [
  'v=0',
  `o=mediasoup ${Date.now()} 1 IN IP4 127.0.0.1`,
  's=-',
  't=0 0',
  'a=ice-lite',
];

/** DTLS parameters of a client whose local SDP is `sdp` (its role is what its a=setup says). */
export function clientDtls(sdp: string) {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  if (!fp?.[1] || !fp[2]) throw new Error('no fingerprint in the client SDP');
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1] ?? 'actpass';
  return {
    role: setup === 'passive' ? ('server' as const) : ('client' as const),
    fingerprints: [{ algorithm: fp[1].toLowerCase(), value: fp[2].toUpperCase() }],
  };
}

/** A werift peer connection for Opus on loopback (optionally with the audio-level extension). */
export function peerConnection(opts: { audioLevel?: boolean } = {}): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    // werift gathers no loopback candidate by itself; the SFU listens on 127.0.0.1.
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
    ...(opts.audioLevel ? { headerExtensions: { audio: [useAudioLevelIndication()] } } : {}),
  });
}

/** RTP parameters of an Opus producer sent by a werift client (what mediasoup-client would send). */
export function opusRtpParameters(o: {
  mid: string;
  payloadType: number;
  ssrc: number;
  cname: string;
  /** Opus fmtp parameters (e.g. `{ minptime: 10, useinbandfec: 1 }`). */
  parameters?: Record<string, unknown>;
  headerExtensions?: Array<Record<string, unknown>>;
}) {
  return {
    mid: o.mid,
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: o.payloadType,
        clockRate: 48000,
        channels: 2,
        parameters: o.parameters ?? {},
        rtcpFeedback: [],
      },
    ],
    ...(o.headerExtensions ? { headerExtensions: o.headerExtensions } : {}),
    encodings: [{ ssrc: o.ssrc }],
    rtcp: { cname: o.cname, reducedSize: true },
  };
}

/** A published microphone: silence until `speak()` queues an utterance. */
export interface Microphone {
  producerId: string;
  /**
   * Sends these packets next (after what is queued), then silence again. Resolves with the wall
   * clock of the first and the last speech packet sent.
   */
  speak(packets: Buffer[]): Promise<{ startedAt: number; endedAt: number }>;
  /** Packets sent so far. */
  readonly sent: number;
  close(): void;
}

/** Publishes an Opus microphone through signaling: createTransport(send) → connect → produce. */
export async function publishMicrophone(s: ProtocolSocket, silence: Buffer[]): Promise<Microphone> {
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
    rtpParameters: opusRtpParameters({
      mid,
      payloadType: pt,
      ssrc: transceiver.sender.ssrc,
      cname: 'mic',
    }),
  });
  type Job = {
    packets: Buffer[];
    i: number;
    startedAt: number;
    done: (r: { startedAt: number; endedAt: number }) => void;
  };
  const queue: Job[] = [];
  let seq = 0;
  let silenceIdx = 0;
  const t0 = performance.now();
  const send = () => {
    let payload: Buffer;
    const job = queue[0];
    if (job) {
      payload = job.packets[job.i++] as Buffer;
      if (job.i === 1) job.startedAt = Date.now();
      if (job.i >= job.packets.length) {
        queue.shift();
        job.done({ startedAt: job.startedAt, endedAt: Date.now() });
      }
    } else {
      payload = silence[silenceIdx++ % silence.length] as Buffer;
    }
    const header = new RtpHeader({
      sequenceNumber: seq & 0xffff,
      timestamp: (seq * 960) >>> 0,
      payloadType: pt,
      marker: seq === 0,
    });
    track.writeRtp(new RtpPacket(header, payload));
    seq++;
  };
  // Paced on the wall clock (20 ms per packet) so timer drift does not stretch the audio.
  const timer = setInterval(() => {
    const due = Math.floor((performance.now() - t0) / 20);
    while (seq <= due) send();
  }, 5);
  return {
    producerId,
    get sent() {
      return seq;
    },
    speak: (packets) => new Promise((done) => queue.push({ packets, i: 0, startedAt: 0, done })),
    close: () => {
      clearInterval(timer);
      void pc.close();
    },
  };
}

/** What a consumer received. */
export interface Reception {
  consumerId: string;
  producerId: string;
  /** The recv transport it arrives on. */
  transportId: string;
  /** The `consume` response. */
  consumer: WsResponseData<'consume'>;
  packets: number;
  bytes: number;
  /** Wall clock of every packet's arrival. */
  arrivals: number[];
  /** Applies an ICE restart the server did (its new ICE parameters), as mediasoup-client does. */
  restartIce(ice: Record<string, unknown>): Promise<void>;
  close(): void;
}

/** Consumes a producer through signaling and timestamps the RTP packets that arrive. */
export async function consumeProducer(s: ProtocolSocket, producerId: string): Promise<Reception> {
  const t = await s.request('createTransport', { direction: 'recv' });
  const consumer = await s.request('consume', {
    transportId: t.transportId,
    producerId,
    rtpCapabilities: OPUS_RECV_CAPS,
  });
  const pc = peerConnection();
  const rx: Reception = {
    consumerId: consumer.consumerId,
    producerId,
    transportId: t.transportId,
    consumer,
    packets: 0,
    bytes: 0,
    arrivals: [],
    restartIce: async (ice) => {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer(ice) });
      await pc.setLocalDescription(await pc.createAnswer());
    },
    close: () => void pc.close(),
  };
  pc.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp) => {
      rx.packets++;
      rx.bytes += rtp.payload.length;
      rx.arrivals.push(Date.now());
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
  function offer(ice: Record<string, unknown>): string {
    return [
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
  }
  await pc.setRemoteDescription({ type: 'offer', sdp: offer(t.iceParameters) });
  await pc.setLocalDescription(await pc.createAnswer());
  await s.request('connectTransport', {
    transportId: t.transportId,
    dtlsParameters: clientDtls(pc.localDescription?.sdp ?? ''),
  });
  await s.request('resumeConsumer', { consumerId: consumer.consumerId });
  return rx;
}
