import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Socket, createSocket } from 'node:dgram';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { loadavg, setPriority } from 'node:os';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import { RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { benchLine, percentile, round } from './stats';

/**
 * sfu-capacity: how many Opus consumers ONE mediasoup worker forwards below 0.1 % loss.
 *
 * P producers (PlainTransports, comedia) are fed from this process over UDP with real Opus packets
 * (libopus via ffmpeg; synthetic CELT frames if ffmpeg is absent) every 20 ms. Consumers are added
 * in steps, each on its own PlainTransport with SRTP (the worker encrypts per consumer, as for a
 * WebRTC peer) sending to local UDP sockets that this process counts; one consumer is a real
 * WebRTC client (werift over ICE-lite + DTLS-SRTP on a WebRtcTransport). Each step is measured
 * over a window: loss from the RTP sequence numbers seen at the receivers (gaps = lost, at the
 * worker's ingress or egress alike), the worker's CPU from its kernel accounting (/proc, i.e.
 * getrusage), and the delay of the WebRTC client's stream behind the sender. Stepping stops at the
 * first step (confirmed by a second measurement) with loss > 0.1 % or a saturated worker core
 * (CPU >= 95 % of one core, or a median delay > 100 ms: the worker no longer keeps up).
 * Loopback costs are charged to the sender, so the worker's CPU includes delivering its packets
 * to this process's sockets.
 *
 * Usage: npm run bench -- sfu-capacity [maxConsumers=3000] [windowS=6] [producers=10]
 * The machine may be shared: the load average is printed with every step. PARLEY_BENCH_NICE=-10
 * (root) raises the priority of the worker and this process, approximating a dedicated core.
 */
const MAX_CONSUMERS = Number(process.argv[2] ?? 3000);
const WINDOW_S = Number(process.argv[3] ?? 6);
const PRODUCERS = Number(process.argv[4] ?? 10);
const STEPS = [
  50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200, 1400, 1600, 1800, 2000, 2500,
  3000, 4000,
];
const LOSS_LIMIT_PCT = 0.1;
const CPU_SATURATED_PCT = 95;
// A worker that cannot keep up queues packets in its socket buffers before it drops any: a median
// delay this far behind the sender means its core is saturated (by it, or by other processes on a
// shared machine) even when getrusage shows less than a full core.
const DELAY_SATURATED_MS = 100;
const RX_SOCKETS = 4;
const OPUS_PT = 100;

/** 20 ms Opus packets: libopus through ffmpeg, else synthetic CELT frames of a similar size. */
function opusPackets(): { packets: Buffer[]; source: string } {
  try {
    const ogg = execFileSync(
      'ffmpeg',
      [
        ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi'],
        ...['-i', 'sine=frequency=440:sample_rate=48000:duration=2'],
        ...['-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-application', 'voip'],
        ...['-f', 'ogg', '-'],
      ],
      { maxBuffer: 16 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const packets: Buffer[] = [];
    let partial: Buffer[] = [];
    let off = 0;
    while (off + 27 <= ogg.length && ogg.toString('latin1', off, off + 4) === 'OggS') {
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
    if (packets.length > 10) return { packets: packets.slice(2), source: 'libopus' };
  } catch {
    // fall through to synthetic frames
  }
  // TOC 0xfc: CELT FB 20 ms, mono, one frame; 80 bytes like 32 kb/s.
  const frame = Buffer.alloc(80, 0x55);
  frame[0] = 0xfc;
  return { packets: [frame], source: 'synthetic' };
}

/** Kernel UDP counters (drops when a socket buffer overflows). */
function udpCounters(): { rcvbufErrors: number; sndbufErrors: number } {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]?.split(/\s+/) ?? [];
    const vals = lines[1]?.split(/\s+/).map(Number) ?? [];
    const get = (k: string) => vals[keys.indexOf(k)] ?? 0;
    return { rcvbufErrors: get('RcvbufErrors'), sndbufErrors: get('SndbufErrors') };
  } catch {
    return { rcvbufErrors: 0, sndbufErrors: 0 };
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * CPU time (user + system, ms) the worker process has used: its kernel accounting read from
 * /proc (instantly, unlike a getResourceUsage() request that queues behind a backlogged worker);
 * getResourceUsage() where /proc is absent.
 */
async function workerCpuMs(worker: ms.Worker): Promise<number> {
  if (existsSync(`/proc/${worker.pid}/stat`)) return cpuMsOf([worker.pid]);
  const ru = await worker.getResourceUsage();
  return ru.ru_utime + ru.ru_stime;
}

/** pids of the kernel's softirq threads (loopback delivery runs there when deferred). */
function softirqThreads(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('ksoftirqd/');
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU time (ms) of processes/threads by pid, from /proc (0 for those that cannot be read). */
function cpuMsOf(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
    } catch {
      // gone or not Linux
    }
  }
  return total;
}

/** What one receiving stream saw: count and highest extended sequence number. */
interface RxState {
  received: number;
  maxExt: number;
}

function onRtp(st: RxState, seq: number): void {
  st.received++;
  if (st.maxExt < 0) {
    st.maxExt = seq;
    return;
  }
  let delta = seq - (st.maxExt & 0xffff);
  if (delta > 32768) delta -= 65536;
  else if (delta < -32768) delta += 65536;
  if (delta > 0) st.maxExt += delta;
}

interface StepResult {
  consumers: number;
  lossPct: number;
  cpuPct: number;
  benchCpuPct: number;
  ppsOut: number;
  /** CPU of the kernel's ksoftirqd threads (deferred packet delivery), percent of one core. */
  softirqCpuPct: number;
  /** Packets each producer was sent per second during the window (nominal 50). */
  txPps: number;
  expected: number;
  lost: number;
  rcvbufErrors: number;
  webrtcPackets: number;
  /** Delay of the WebRTC client's stream behind the sender, median and max, ms (±20). */
  lagP50Ms: number;
  lagMaxMs: number;
  /** The same measured at the WebRTC client (adds werift's own processing in this process). */
  webrtcLagP50Ms: number;
  /** Streams that received nothing during the window. */
  silent: number;
  load1: number;
}

async function main(): Promise<void> {
  const { packets: opus, source } = opusPackets();
  const worker = await mediasoup.createWorker({ logLevel: 'error', disableLiburing: true });
  const nice = process.env['PARLEY_BENCH_NICE'];
  if (nice) {
    setPriority(worker.pid, Number(nice));
    setPriority(Number(nice));
  }
  const router = await worker.createRouter({
    mediaCodecs: [
      {
        kind: 'audio',
        mimeType: 'audio/opus',
        preferredPayloadType: OPUS_PT,
        clockRate: 48000,
        channels: 2,
        parameters: { useinbandfec: 1, usedtx: 1 },
      },
    ],
  });

  // Producers fed over UDP from one socket.
  const tx = createSocket('udp4');
  await new Promise<void>((r) => tx.bind(0, '127.0.0.1', r));
  tx.setSendBufferSize(4 * 1024 * 1024);
  const producers: { producer: ms.Producer; port: number; ssrc: number; header: Buffer }[] = [];
  for (let i = 0; i < PRODUCERS; i++) {
    const t = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: true,
    });
    const ssrc = 0x1000 + i;
    const producer = await t.produce({
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: OPUS_PT, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc }],
      },
    });
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = OPUS_PT;
    header.writeUInt32BE(ssrc, 8);
    producers.push({ producer, port: t.tuple.localPort, ssrc, header });
  }
  let seq = 0;
  let sent = 0;
  const sendTick = (): void => {
    const payload = opus[seq % opus.length] as Buffer;
    for (const p of producers) {
      p.header.writeUInt16BE(seq & 0xffff, 2);
      p.header.writeUInt32BE((seq * 960) >>> 0, 4);
      tx.send(Buffer.concat([p.header, payload]), p.port, '127.0.0.1');
    }
    seq++;
    sent++;
  };
  // Paced by elapsed time (a timer alone drifts): one packet per producer every 20 ms. When this
  // process was starved the missed slots are skipped, not sent in a burst (a burst is not what a
  // microphone does, and it would overflow socket buffers); pps_out shows the rate achieved.
  let next = performance.now();
  const pacer = setInterval(() => {
    const now = performance.now();
    if (now < next) return;
    sendTick();
    next = now - next > 40 ? now + 20 : next + 20;
  }, 2);

  // Receivers: consumers' SRTP headers are clear, so ssrc and sequence number can be read.
  const streams = new Map<number, RxState>();
  const rxSockets: Socket[] = [];
  for (let i = 0; i < RX_SOCKETS; i++) {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    s.on('message', (buf) => {
      // RTCP (rtcp-mux) has packet types 200..207 in byte 1; only RTP counts.
      if (buf.length < 12 || (buf[1] ?? 0) >= 200) return;
      const st = streams.get(buf.readUInt32BE(8));
      if (st) onRtp(st, buf.readUInt16BE(2));
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    rxSockets.push(s);
  }

  // The real WebRTC client: werift consuming producer 0 through a WebRtcTransport.
  const webrtc = await connectWebRtcConsumer(router, producers[0]?.producer.id ?? '');

  let plainConsumers = 0;
  const addConsumer = async (n: number): Promise<void> => {
    const t = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
      rtcpMux: true,
      comedia: false,
      enableSrtp: true,
      srtpCryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
    });
    const rx = rxSockets[n % RX_SOCKETS] as Socket;
    await t.connect({
      ip: '127.0.0.1',
      port: rx.address().port,
      srtpParameters: {
        cryptoSuite: 'AES_CM_128_HMAC_SHA1_80',
        keyBase64: randomBytes(30).toString('base64'),
      },
    });
    const producer = producers[n % producers.length]?.producer;
    if (!producer) throw new Error('no producer');
    const consumer = await t.consume({
      producerId: producer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
    if (ssrc === undefined) throw new Error('consumer without ssrc');
    streams.set(ssrc, { received: 0, maxExt: -1 });
  };
  // `total` counts the WebRTC consumer too. Created in batches: one at a time takes minutes.
  const addConsumers = async (total: number): Promise<void> => {
    while (plainConsumers + 1 < total) {
      const batch = Math.min(25, total - 1 - plainConsumers);
      await Promise.all(Array.from({ length: batch }, (_, i) => addConsumer(plainConsumers + i)));
      plainConsumers += batch;
    }
  };

  // Sequence offsets of two probe streams (a plain consumer and the WebRTC client, both of
  // producer 0) against the sender, calibrated at the first (lightest) step.
  let offsets: { plain: number; webrtc: number } | undefined;
  const softirq = softirqThreads();
  const measure = async (consumers: number): Promise<StepResult> => {
    // Every counter is read synchronously at both window edges, so all cover the same interval.
    const all = [...streams.values(), webrtc.state];
    const snapshot = async () => ({
      at: performance.now(),
      streams: all.map((s) => ({ received: s.received, maxExt: s.maxExt })),
      sent,
      cpuMs: await workerCpuMs(worker),
      softirqMs: cpuMsOf(softirq),
      udp: udpCounters(),
      bench: process.cpuUsage(),
    });
    const start = await snapshot();
    // Delay through the worker: how far the probe streams trail the packets sent.
    const probe = streams.values().next().value as RxState;
    offsets ??= { plain: probe.maxExt - (seq - 1), webrtc: webrtc.state.maxExt - (seq - 1) };
    const calibrated = offsets;
    const lags: number[] = [];
    const webrtcLags: number[] = [];
    const sampler = setInterval(() => {
      lags.push(20 * (seq - 1 - (probe.maxExt - calibrated.plain)));
      webrtcLags.push(20 * (seq - 1 - (webrtc.state.maxExt - calibrated.webrtc)));
    }, 100);
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    clearInterval(sampler);
    const end = await snapshot();
    const wallMs = end.at - start.at;
    const sentInWindow = end.sent - start.sent;
    let expected = 0;
    let lost = 0;
    let silent = 0;
    end.streams.forEach((s, i) => {
      const b = start.streams[i] as RxState;
      const received = s.received - b.received;
      if (received === 0) silent++;
      // Sequence numbers past the window's start; a stream silent for the whole window lost
      // everything its producer sent meanwhile.
      const exp = received === 0 ? sentInWindow : b.maxExt >= 0 ? s.maxExt - b.maxExt : received;
      expected += Math.max(exp, received);
      lost += Math.max(0, exp - received);
    });
    const bench = process.cpuUsage(start.bench);
    const webrtcIndex = all.length - 1;
    return {
      consumers,
      lossPct: expected > 0 ? (100 * lost) / expected : 100,
      cpuPct: (100 * (end.cpuMs - start.cpuMs)) / wallMs,
      softirqCpuPct: (100 * (end.softirqMs - start.softirqMs)) / wallMs,
      benchCpuPct: (100 * (bench.user + bench.system)) / 1000 / wallMs,
      ppsOut: (expected - lost) / (wallMs / 1000),
      txPps: sentInWindow / (wallMs / 1000),
      expected,
      lost,
      rcvbufErrors: end.udp.rcvbufErrors - start.udp.rcvbufErrors,
      webrtcPackets:
        (end.streams[webrtcIndex]?.received ?? 0) - (start.streams[webrtcIndex]?.received ?? 0),
      lagP50Ms: percentile(lags, 50),
      lagMaxMs: Math.max(...lags),
      webrtcLagP50Ms: percentile(webrtcLags, 50),
      silent,
      load1: loadavg()[0] ?? 0,
    };
  };

  const print = (r: StepResult, note = ''): void => {
    process.stdout.write(
      `step consumers=${r.consumers} loss_pct=${round(r.lossPct, 3)} worker_cpu_pct=${round(r.cpuPct, 1)} ` +
        `tx_pps=${round(r.txPps, 1)} pps_out=${Math.round(r.ppsOut)} lost=${r.lost}/${r.expected} bench_cpu_pct=${round(r.benchCpuPct, 1)} ksoftirqd_cpu_pct=${round(r.softirqCpuPct, 1)} ` +
        `udp_rcvbuf_errors=${r.rcvbufErrors} silent_streams=${r.silent} webrtc_rx=${r.webrtcPackets} delay_ms_p50=${r.lagP50Ms} delay_ms_max=${r.lagMaxMs} webrtc_delay_ms_p50=${r.webrtcLagP50Ms} load1=${round(r.load1, 2)}${note}\n`,
    );
  };

  process.stdout.write(
    `sfu-capacity: 1 worker (pid ${worker.pid}), ${PRODUCERS} producers of ${source} Opus at 50 pps, ` +
      `SRTP PlainTransport consumers + 1 werift WebRTC consumer, ${WINDOW_S}s windows, ` +
      `nice ${nice ?? 0}, ` +
      `load average ${loadavg()
        .map((l) => round(l, 2))
        .join(' ')}\n`,
  );
  await new Promise((r) => setTimeout(r, 1000));
  let best: StepResult | undefined;
  let limit = 'max';
  let failed: StepResult | undefined;
  for (const step of STEPS.filter((s) => s <= MAX_CONSUMERS)) {
    await addConsumers(step);
    // Let the new streams start and this process drain what queued up while it was creating them.
    await new Promise((r) => setTimeout(r, 3000));
    let r = await measure(step);
    const over = (x: StepResult) =>
      x.lossPct > LOSS_LIMIT_PCT ||
      x.cpuPct >= CPU_SATURATED_PCT ||
      x.lagP50Ms > DELAY_SATURATED_MS;
    if (over(r)) {
      // The machine is shared: confirm with a second window before calling it the limit.
      print(r, ' (re-measuring)');
      r = await measure(step);
    }
    print(r);
    if (r.webrtcPackets === 0)
      process.stdout.write('warning: the WebRTC client received nothing\n');
    if (over(r)) {
      failed = r;
      limit = r.lossPct > LOSS_LIMIT_PCT ? 'loss' : r.cpuPct >= CPU_SATURATED_PCT ? 'cpu' : 'delay';
      break;
    }
    best = r;
  }

  clearInterval(pacer);
  webrtc.close();
  worker.close();
  tx.close();
  for (const s of rxSockets) s.close();

  const load = loadavg().map((l) => round(l, 2));
  const fields: Record<string, string | number> = {
    consumers_at_limit: best?.consumers ?? 0,
    loss_pct: round(best?.lossPct ?? 0, 3),
    worker_cpu_pct: round(best?.cpuPct ?? 0, 1),
    producers: PRODUCERS,
    limit,
  };
  if (failed) {
    fields['next_step'] = failed.consumers;
    fields['next_loss_pct'] = round(failed.lossPct, 3);
    fields['next_worker_cpu_pct'] = round(failed.cpuPct, 1);
    fields['next_delay_ms_p50'] = failed.lagP50Ms;
  }
  if (best) {
    // Normalised cost, comparable across machines: worker CPU per forwarded packet.
    fields['worker_us_per_pkt'] = round((best.cpuPct * 10_000) / Math.max(1, best.ppsOut), 2);
    fields['pps_out'] = Math.round(best.ppsOut);
    fields['goal_ratio'] = round(best.consumers / 500, 2);
    // What one fully used core would carry at that cost (loopback delivery included).
    fields['cpu_bound_consumers'] = Math.round(1e6 / ((best.cpuPct * 10_000) / best.ppsOut) / 50);
    fields['delay_ms_p50'] = best.lagP50Ms;
  }
  fields['webrtc_rx_packets'] = webrtc.state.received;
  fields['nice'] = Number(nice ?? 0);
  fields['load1'] = load[0] ?? 0;
  fields['load5'] = load[1] ?? 0;
  benchLine('sfu-capacity', fields);
}

/** A werift client consuming `producerId` on a WebRtcTransport; counts the RTP it receives. */
async function connectWebRtcConsumer(
  router: ms.Router,
  producerId: string,
): Promise<{ state: RxState; close(): void }> {
  const t = await router.createWebRtcTransport({
    listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }],
  });
  const consumer = await t.consume({
    producerId,
    rtpCapabilities: router.rtpCapabilities,
    paused: true,
  });
  const pc = new RTCPeerConnection({
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
  });
  const state: RxState = { received: 0, maxExt: -1 };
  pc.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((rtp) => onRtp(state, rtp.header.sequenceNumber)),
  );
  const codec = consumer.rtpParameters.codecs[0];
  const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
  const fp = t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256');
  if (!codec || ssrc === undefined || !fp) throw new Error('consumer/transport incomplete');
  const mid = consumer.rtpParameters.mid ?? '0';
  const offer = [
    'v=0',
    `o=mediasoup ${Date.now()} 1 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${mid}`,
    'a=msid-semantic: WMS *',
    `m=audio 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
    'c=IN IP4 127.0.0.1',
    `a=ice-ufrag:${t.iceParameters.usernameFragment}`,
    `a=ice-pwd:${t.iceParameters.password}`,
    ...t.iceCandidates.map(
      (c) =>
        `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ host`,
    ),
    'a=end-of-candidates',
    `a=fingerprint:${fp.algorithm} ${fp.value}`,
    'a=setup:actpass',
    `a=mid:${mid}`,
    'a=sendonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    `a=msid:bench ${consumer.id}`,
    `a=rtpmap:${codec.payloadType} opus/48000/2`,
    `a=ssrc:${ssrc} cname:bench`,
    `a=ssrc:${ssrc} msid:bench ${consumer.id}`,
    '',
  ].join('\r\n');
  await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  await pc.setLocalDescription(await pc.createAnswer());
  const answer = pc.localDescription?.sdp ?? '';
  const remoteFp = /a=fingerprint:(\S+) (\S+)/.exec(answer);
  const setup = /a=setup:(\w+)/.exec(answer)?.[1];
  if (!remoteFp?.[1] || !remoteFp[2]) throw new Error('werift answer has no fingerprint');
  await t.connect({
    dtlsParameters: {
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [
        {
          algorithm: remoteFp[1].toLowerCase() as ms.FingerprintAlgorithm,
          value: remoteFp[2].toUpperCase(),
        },
      ],
    },
  });
  await consumer.resume();
  const deadline = Date.now() + 15_000;
  while (state.received === 0) {
    if (Date.now() > deadline) throw new Error('the WebRTC client received no RTP within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { state, close: () => void pc.close() };
}

main()
  .then(() => process.exit(0))
  .catch((err: unknown) => {
    process.stderr.write(`sfu-capacity failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
