// The SFU half of the voice loop across real processes: apps/sfu (real mediasoup), apps/stt-worker
// (whisper.cpp with the synthetic tiny model: words are meaningless, plumbing and timing are not)
// and apps/tts (Piper fixture voices on onnxruntime), over a private NATS server, driven through
// the SFU's NATS API with werift WebRTC clients (the SDP glue mediasoup-client does in a browser).
// espeak-ng speech goes into a transcription room → speech events, a final transcript for that
// participant, one trace from the tap to the worker; sfu.say.start → audio from the agent.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EventContract,
  type PayloadOf,
  type RequestOf,
  type ResponseOf,
  sfuContracts,
  sttEvents,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import {
  eventually,
  freePort,
  OtlpReceiver,
  type PrivateServer,
  type ServiceProcess,
  spawnService,
  startNatsServer,
  startRedisServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import {
  OPUS_RECV_CAPS,
  clientDtls,
  opusRtpParameters,
  peerConnection,
  sdpHeader,
  silencePackets,
  speechPackets,
  transportSdpLines,
} from '@parley/testing/webrtc';
import { MediaStreamTrack, RtpHeader, RtpPacket } from 'werift';

type Contracts = typeof sfuContracts;

const newPeerConnection = () => peerConnection();

describe('voice loop, SFU half: sfu + stt-worker + tts processes', () => {
  const run = testRunId('ve');
  let nats: PrivateServer;
  let redis: PrivateServer;
  let otlp: OtlpReceiver;
  let client: NatsMessaging;
  let nodeId = '';
  let dir = '';
  const procs: ServiceProcess[] = [];
  const closers: (() => void)[] = [];

  const call = <K extends keyof Contracts>(name: K, payload: RequestOf<Contracts[K]>) =>
    client.request(sfuContracts[name], payload as never, { tokens: [nodeId] }) as Promise<
      ResponseOf<Contracts[K]>
    >;

  function collect<E extends EventContract>(event: E, roomId: string): PayloadOf<E>[] {
    const got: PayloadOf<E>[] = [];
    closers.push(client.subscribe(event, (p) => void got.push(p), { tokens: [roomId] }));
    return got;
  }

  /** A werift participant sending `packets` (20 ms Opus) once, then silence, at real-time pace. */
  async function sender(roomId: string, peerId: string, packets: Buffer[]): Promise<void> {
    const pc = newPeerConnection();
    const track = new MediaStreamTrack({ kind: 'audio' });
    const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
    await pc.setLocalDescription(await pc.createOffer());
    const offer = pc.localDescription?.sdp ?? '';
    const mid = /a=mid:(\S+)/.exec(offer)?.[1] ?? '0';
    const pt = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(offer)?.[1]);
    const t = await call('transportCreate', { roomId, peerId, direction: 'send' });
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
      `a=rtpmap:${pt} opus/48000/2`,
      `a=fmtp:${pt} minptime=10;useinbandfec=1`,
      '',
    ].join('\r\n');
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    await call('transportConnect', {
      roomId,
      peerId,
      transportId: t.transportId,
      dtlsParameters: clientDtls(offer),
    });
    await call('producerCreate', {
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
      }),
    });
    await eventually(() => pc.connectionState === 'connected', 10_000);
    const silence = silencePackets(0.2);
    const t0 = performance.now();
    let seq = 0;
    // Absolute schedule: the audio clock must not drift behind real time on a busy machine.
    const timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 20);
      for (; seq <= due; seq++) {
        const payload = packets[seq] ?? (silence[seq % silence.length] as Buffer);
        const header = new RtpHeader({
          sequenceNumber: seq & 0xffff,
          timestamp: (seq * 960) >>> 0,
          payloadType: pt,
          marker: seq === 0,
        });
        track.writeRtp(new RtpPacket(header, payload));
      }
    }, 10);
    closers.push(() => {
      clearInterval(timer);
      void pc.close();
    });
  }

  /** A werift participant consuming `producerId`; counts RTP packets and payload bytes. */
  async function receiver(roomId: string, peerId: string, producerId: string) {
    const t = await call('transportCreate', { roomId, peerId, direction: 'recv' });
    const consumer = await call('consumerCreate', {
      roomId,
      peerId,
      transportId: t.transportId,
      producerId,
      rtpCapabilities: OPUS_RECV_CAPS,
    });
    const pc = newPeerConnection();
    const rx = { packets: 0, bytes: 0 };
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
    const pt = params.codecs[0]?.payloadType ?? 100;
    const mid = params.mid ?? '0';
    const offer = [
      ...sdpHeader(),
      `a=group:BUNDLE ${mid}`,
      'a=msid-semantic: WMS *',
      `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
      ...transportSdpLines(t),
      'a=setup:actpass',
      `a=mid:${mid}`,
      'a=sendonly',
      'a=rtcp-mux',
      'a=rtcp-rsize',
      `a=msid:parley ${consumer.consumerId}`,
      `a=rtpmap:${pt} opus/48000/2`,
      `a=ssrc:${params.encodings[0]?.ssrc ?? 1} cname:agent`,
      `a=ssrc:${params.encodings[0]?.ssrc ?? 1} msid:parley ${consumer.consumerId}`,
      '',
    ].join('\r\n');
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await call('transportConnect', {
      roomId,
      peerId,
      transportId: t.transportId,
      dtlsParameters: clientDtls(pc.localDescription?.sdp ?? ''),
    });
    await call('consumerResume', { roomId, peerId, consumerId: consumer.consumerId });
    closers.push(() => void pc.close());
    return rx;
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-voice-e2e-'));
    [nats, redis, otlp] = await Promise.all([
      startNatsServer(),
      startRedisServer(),
      new OtlpReceiver().start(),
    ]);
    const common = {
      NATS_URL: nats.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      LOG_LEVEL: 'info',
    };
    const [sfuPort, workerPort, ttsPort] = await Promise.all([freePort(), freePort(), freePort()]);
    procs.push(
      spawnService('sfu', {
        ...common,
        SFU_HTTP_HOST: '127.0.0.1',
        SFU_HTTP_PORT: String(sfuPort),
        SFU_WORKERS: '1',
        SFU_RTC_PORT_BASE: '0',
        SFU_LISTEN_IP: '127.0.0.1',
      }),
      spawnService('stt-worker', {
        ...common,
        STT_WORKER_HTTP_HOST: '127.0.0.1',
        STT_WORKER_HTTP_PORT: String(workerPort),
        STT_WORKER_THREADS: '2',
      }),
      spawnService('tts', {
        ...common,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: `${run}:`,
        TTS_HTTP_HOST: '127.0.0.1',
        TTS_HTTP_PORT: String(ttsPort),
      }),
    );
    client = new NatsMessaging({
      servers: [nats.url],
      name: 'voice-e2e',
      queue: 'voice-e2e',
      logger: createLogger({ service: 'test', nodeId: 'test', level: 'error' }),
    });
    client.start();
    await client.waitUntilConnected();
    await Promise.all([
      waitForHttp(`http://127.0.0.1:${sfuPort}/ready`, 200, 60_000),
      waitForHttp(`http://127.0.0.1:${workerPort}/ready`, 200, 120_000),
      waitForHttp(`http://127.0.0.1:${ttsPort}/ready`, 200, 60_000),
    ]);
  }, 240_000);

  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  afterAll(async () => {
    await client?.close();
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([nats?.dispose(), redis?.dispose(), otlp?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('espeak-ng speech in a transcription room: speech events, a final transcript for the speaker, one trace from the tap to the worker', async () => {
    const roomId = `${run}-talk`;
    const opened = await client.request(sfuContracts.roomOpen, {
      roomId,
      options: { transcription: true, language: 'en' },
    });
    nodeId = opened.nodeId;
    const started = collect(voiceEvents.speechStarted, roomId);
    const ended = collect(voiceEvents.speechEnded, roomId);
    const finals: { at: number; e: PayloadOf<typeof sttEvents.transcriptFinalized> }[] = [];
    closers.push(
      client.subscribe(
        sttEvents.transcriptFinalized,
        (e) => void finals.push({ at: Date.now(), e }),
        {
          tokens: [roomId],
        },
      ),
    );
    await client.connection.flush();
    const speech = speechPackets(
      'Hello there. This sentence is spoken into the room to be transcribed.',
      join(dir, 'speech.wav'),
    );
    await sender(roomId, 'alice', [...silencePackets(1), ...speech]);
    await eventually(() => finals.length >= 1, 30_000);
    expect(started.length).toBeGreaterThanOrEqual(1);
    const s = started[0];
    const e = ended.find((x) => x.utteranceId === s?.utteranceId);
    const f = finals.find((x) => x.e.utteranceId === s?.utteranceId);
    expect(s).toMatchObject({ roomId, peerId: 'alice' });
    expect(e).toBeDefined();
    expect(f?.e).toMatchObject({ roomId, participantId: 'alice', final: true });
    // The utterance is about as long as the speech (pre-roll and tail on top).
    const speechMs = speech.length * 20;
    expect((e?.endMs ?? 0) - (s?.startMs ?? 0)).toBeGreaterThan(speechMs * 0.6);
    expect((e?.endMs ?? 0) - (s?.startMs ?? 0)).toBeLessThan(speechMs + 1500);
    const vadToFinal = (f?.at ?? 0) - (e?.decidedAt ?? 0);
    process.stdout.write(
      `voice e2e: speech ${speechMs} ms, VAD end decision → final transcript event ${vadToFinal} ms\n`,
    );
    // One trace: the SFU's utterance span and the worker's spans of it share the trace id.
    const uid = s?.utteranceId;
    const root = await eventually(
      () =>
        otlp.spans.find(
          (x) => x.name === 'sfu.utterance' && x.attributes['parley.utterance_id'] === uid,
        ),
      10_000,
    );
    await eventually(
      () =>
        otlp.spans.some((x) => x.service === 'stt-worker' && x.traceId === root.traceId) || false,
      10_000,
    );
    const services = new Set(
      otlp.spans.filter((x) => x.traceId === root.traceId).map((x) => x.service),
    );
    expect([...services].sort()).toEqual(['sfu', 'stt-worker']);
  }, 90_000);

  it('sfu.say.start with the real tts: the agent producer carries the speech to a participant', async () => {
    const roomId = `${run}-say`;
    const opened = await client.request(sfuContracts.roomOpen, { roomId, options: {} });
    nodeId = opened.nodeId;
    const sayStarted = collect(voiceEvents.sayStarted, roomId);
    const sayEnded = collect(voiceEvents.sayEnded, roomId);
    await client.connection.flush();
    await call('transportCreate', { roomId, peerId: 'bob', direction: 'recv' });
    const first = await client.request(
      voiceContracts.say,
      { roomId, text: 'Hello, world.' },
      { tokens: [roomId] },
    );
    await eventually(() => sayEnded.length === 1, 20_000);
    const rx = await receiver(roomId, 'bob', first.producerId);
    await new Promise((r) => setTimeout(r, 500));
    const text = 'Hello, world. This is the agent speaking into the room. Can you hear it?';
    const second = await client.request(voiceContracts.say, { roomId, text }, { tokens: [roomId] });
    expect(second.producerId).toBe(first.producerId);
    await eventually(() => sayEnded.length === 2, 30_000);
    const ended = sayEnded[1];
    expect(ended).toMatchObject({ sayId: second.sayId, reason: 'done' });
    expect(ended?.playedMs).toBeGreaterThan(500);
    await eventually(() => rx.packets >= ((ended?.playedMs ?? 0) / 20) * 0.9, 3_000);
    expect(rx.bytes).toBeGreaterThan(0);
    const started = sayStarted.find((x) => x.sayId === second.sayId);
    expect(started).toMatchObject({ roomId, text, voice: expect.any(String) });
    process.stdout.write(
      `voice e2e: say request → first packet ${(started?.firstPacketAt ?? 0) - (started?.requestedAt ?? 0)} ms, ${rx.packets} packets for ${ended?.playedMs} ms\n`,
    );
  }, 90_000);
});
