// The SFU's voice loop in-process with real mediasoup workers and a private NATS server: a real
// libwebrtc sender speaks (tone bursts) into a transcription room → speech events and
// stt.realtime.transcribe requests with 16 kHz PCM, one trace per utterance; sfu.say.start with a
// stand-in tts.synthesize responder → a real libwebrtc receiver decodes the agent's speech;
// barge-in, stop, bad requests, unknown rooms.
import { Writable } from 'node:stream';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { rms, bytesToFloat32 } from '@parley/audio';
import { sfuEnv } from '@parley/config';
import {
  type EventContract,
  type PayloadOf,
  type RequestOf,
  sfuContracts,
  sfuEvents,
  sttContracts,
  ttsContracts,
  ttsEvents,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import type { Room } from '@parley/media';
import {
  assertWorkerBinary,
  connectPcmSender,
  connectWrtcDecoder,
  waitForAsync,
} from '@parley/media/testing';
import { decodeJson, encodeJson, MessagingError, NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import { type RunningService, runService } from '@parley/runtime';
import {
  eventually,
  mediasoupWorkerBin,
  type PrivateServer,
  startNatsServer,
  testRunId,
} from '@parley/testing';
import { MediaService } from '../media.service';
import { SfuModule } from '../sfu.module';

type SttRequest = RequestOf<typeof sttContracts.realtimeTranscribe>;

/** 48 kHz tone bursts: `leadMs` of silence, then `onMs` of tone. */
function toneBurst(onMs: number, leadMs: number, hz = 300, amp = 9000): Int16Array {
  const lead = (leadMs * 48) | 0;
  const out = new Int16Array(lead + ((onMs * 48) | 0));
  for (let i = lead; i < out.length; i++) {
    out[i] = Math.round(amp * Math.sin((2 * Math.PI * hz * (i - lead)) / 48000));
  }
  return out;
}

function at<T>(list: T[], i: number): T {
  const v = list[i];
  if (v === undefined) throw new Error(`no element ${i} (length ${list.length})`);
  return v;
}

describe('sfu voice loop (in-process, real mediasoup, private NATS)', () => {
  const run = testRunId('v');
  const spans = new InMemorySpanExporter();
  const logLines: Record<string, unknown>[] = [];
  let nats: PrivateServer;
  let svc: RunningService;
  let client: NatsMessaging;
  let media: MediaService;
  const sttRequests: { req: SttRequest; correlationId: string }[] = [];
  const ttsCancelled: string[] = [];
  /** Chunks the stand-in TTS published, by text. */
  const ttsSent = new Map<string, number>();
  const closers: (() => void)[] = [];
  const track = <T extends { close(): void }>(c: T): T => {
    closers.push(() => c.close());
    return c;
  };

  beforeAll(async () => {
    assertWorkerBinary();
    nats = await startNatsServer();
    const logStream = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n')) {
          if (line.trim()) logLines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    svc = await runService(
      {
        service: 'sfu',
        envSchema: sfuEnv,
        module: SfuModule,
        http: (c) => ({ host: c.SFU_HTTP_HOST, port: c.SFU_HTTP_PORT }),
      },
      {
        env: {
          NATS_URL: nats.url,
          SFU_HTTP_HOST: '127.0.0.1',
          SFU_HTTP_PORT: '0',
          SFU_WORKERS: '1',
          SFU_RTC_PORT_BASE: '0',
          SFU_LISTEN_IP: '127.0.0.1',
          MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
          SFU_TAP_PARTIAL_INTERVAL_MS: '500',
          SFU_VAD_HANGOVER_MS: '400',
          SFU_TTS_FIRST_AUDIO_TIMEOUT_MS: '3000',
          LOG_LEVEL: 'info',
        },
        spanExporter: spans,
        logStream,
        noSignalHandlers: true,
      },
    );
    media = svc.app.get(MediaService);
    client = new NatsMessaging({
      servers: [nats.url],
      name: 'voice-test',
      queue: 'voice-test',
      logger: createLogger({
        service: 'test',
        nodeId: 'test',
        level: 'error',
        stream: new Writable({ write: (_c, _e, done) => done() }),
      }),
    });
    client.start();
    await client.waitUntilConnected();
    // Stand-in STT worker: answers every utterance, records what it got.
    client.serve(
      sttContracts.realtimeTranscribe,
      (req, meta) => {
        sttRequests.push({ req, correlationId: meta.correlationId });
        const samples = req.audio.length / 2;
        return {
          utteranceId: req.utteranceId,
          kind: req.kind,
          roomId: req.roomId,
          participantId: req.participantId,
          speech: true,
          text: 'stand-in',
          segments: [],
          language: req.language ?? 'en',
          startMs: req.startMs ?? 0,
          endMs: (req.startMs ?? 0) + samples / 16,
          workerId: 'stand-in',
          timing: { queuedMs: 0, processMs: 1, totalMs: 1, audioMs: samples / 16 },
        };
      },
      { queue: 'stt-worker' },
    );
    // Stand-in TTS: "tone:<seconds>" streams a 440 Hz tone at 22.05 kHz in 250 ms chunks (fast;
    // "slowtone:<seconds>" slower than real time);
    // "fail" ends the stream with ENGINE_FAILED.
    client.subscribe(ttsEvents.streamCancelled, (e) => void ttsCancelled.push(e.streamId), {
      tokens: ['*'],
    });
    client.serve(
      ttsContracts.synthesize,
      async (req) => {
        const publish = (c: PayloadOf<typeof ttsEvents.streamChunk>) =>
          client.publish(ttsEvents.streamChunk, c, { tokens: [req.streamId] });
        if (req.text === 'fail') {
          publish({
            type: 'error',
            streamId: req.streamId,
            seq: 0,
            error: { code: 'ENGINE_FAILED', message: 'stand-in failure', retryable: true },
          });
          throw new MessagingError('ENGINE_FAILED', 'stand-in failure', true);
        }
        const m = /^(slow)?tone:([\d.]+)$/.exec(req.text);
        const seconds = Number(m?.[2] ?? 1);
        // "slowtone": synthesised slower than real time (still running when playback stops).
        const delayMs = m?.[1] ? 400 : 20;
        const rate = 22050;
        const total = Math.round(seconds * rate);
        const chunk = Math.floor(rate / 4);
        let seq = 0;
        for (let off = 0; off < total; off += chunk) {
          const n = Math.min(chunk, total - off);
          const pcm = Buffer.alloc(n * 2);
          for (let i = 0; i < n; i++) {
            pcm.writeInt16LE(
              Math.round(9000 * Math.sin((2 * Math.PI * 440 * (off + i)) / rate)),
              i * 2,
            );
          }
          publish({
            type: 'audio',
            streamId: req.streamId,
            seq: seq++,
            sentence: 0,
            sentenceEnd: off + n >= total,
            sampleRate: rate,
            pcm: pcm.toString('base64'),
            samples: n,
            final: off + n >= total,
          });
          ttsSent.set(req.text, seq);
          if (ttsCancelled.includes(req.streamId)) break;
          await new Promise((r) => setTimeout(r, delayMs));
        }
        return {
          streamId: req.streamId,
          voice: req.voice ?? 'stand-in',
          sampleRate: rate,
          chunks: seq,
          sentences: 1,
          samples: total,
          durationSeconds: seconds,
          cached: false,
        };
      },
      { queue: 'tts' },
    );
    await client.connection.flush();
    await eventually(async () => (await fetch(`${svc.url}/ready`)).status === 200, 30_000);
  });

  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  afterAll(async () => {
    await client?.close();
    await svc?.close();
    await nats?.dispose();
  });

  /** Collects a room event. */
  function collect<E extends EventContract>(event: E, roomId: string): PayloadOf<E>[] {
    const got: PayloadOf<E>[] = [];
    const off = client.subscribe(event, (p) => void got.push(p), { tokens: [roomId] });
    closers.push(off);
    return got;
  }

  async function openRoom(
    roomId: string,
    options: RequestOf<typeof sfuContracts.roomOpen>['options'] = {},
  ): Promise<Room> {
    await client.request(sfuContracts.roomOpen, { roomId, options });
    return media.manager.getRoom(roomId);
  }

  /** Sends a raw payload and returns the reply envelope. */
  async function raw(subject: string, payload: unknown): Promise<Record<string, unknown>> {
    const data = typeof payload === 'string' ? Buffer.from(payload) : encodeJson(payload);
    const reply = await client.connection.request(subject, data, { timeout: 3000 });
    return decodeJson(reply.data) as Record<string, unknown>;
  }

  it('a speaking participant yields speech events and stt.realtime.transcribe partials and finals of 16 kHz PCM, one trace per utterance', async () => {
    const roomId = `${run}-tap`;
    const room = await openRoom(roomId, { transcription: true, language: 'en-US' });
    const started = collect(voiceEvents.speechStarted, roomId);
    const ended = collect(voiceEvents.speechEnded, roomId);
    await client.connection.flush();
    const alice = await room.join('alice');
    // 1 s silence, 1.3 s tone, 1.5 s silence; twice.
    track(
      await connectPcmSender(alice, { pcm: toneBurst(1300, 1000), silenceMs: 1500, repeat: 2 }),
    );
    const finals = () =>
      sttRequests.filter((r) => r.req.roomId === roomId && r.req.kind === 'final');
    await eventually(() => finals().length >= 2, 20_000);
    await eventually(() => ended.length >= 2, 2_000);
    expect(started.length).toBe(2);
    for (let i = 0; i < 2; i++) {
      const s = at(started, i);
      const e = at(ended, i);
      const f = at(finals(), i).req;
      expect(s).toMatchObject({ roomId, peerId: 'alice' });
      expect(e).toMatchObject({ roomId, peerId: 'alice', utteranceId: s.utteranceId });
      expect(e.decidedAt).toBeGreaterThanOrEqual(s.at);
      expect(f).toMatchObject({
        utteranceId: s.utteranceId,
        roomId,
        participantId: 'alice',
        kind: 'final',
        language: 'en',
      });
      const pcm = bytesToFloat32(f.audio);
      // 1.3 s of tone + pre-roll (≤ 200 ms) + tail (150 ms), ± a frame or two.
      expect(pcm.length / 16000).toBeGreaterThan(1.3);
      expect(pcm.length / 16000).toBeLessThan(1.85);
      expect(rms(pcm)).toBeGreaterThan(0.1);
      const partials = sttRequests.filter(
        (r) => r.req.utteranceId === s.utteranceId && r.req.kind === 'partial',
      );
      expect(partials.length).toBeGreaterThanOrEqual(1);
      expect(at(partials, 0).req.seq).toBe(0);
      // Correlation id of every request of the utterance = the utterance id.
      for (const r of sttRequests.filter((x) => x.req.utteranceId === s.utteranceId)) {
        expect(r.correlationId).toBe(s.utteranceId);
      }
    }
    // One trace per utterance: the sfu.utterance root span and every STT request of it.
    await eventually(
      () => spans.getFinishedSpans().filter((x) => x.name === 'sfu.utterance').length >= 2,
      5_000,
    );
    const roots = spans
      .getFinishedSpans()
      .filter((x) => x.name === 'sfu.utterance' && x.attributes['parley.room_id'] === roomId);
    expect(new Set(roots.map((x) => x.spanContext().traceId)).size).toBe(2);
    for (const root of roots) {
      const traceId = root.spanContext().traceId;
      const inTrace = spans.getFinishedSpans().filter((x) => x.spanContext().traceId === traceId);
      const names = inTrace.map((x) => x.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'sfu.utterance',
          'stt.realtime.transcribe request',
          'stt.realtime.transcribe process',
          'sfu.speech.started publish',
          'sfu.speech.ended publish',
        ]),
      );
      const uid = root.attributes['parley.utterance_id'];
      const lines = logLines.filter((l) => l['utteranceId'] === uid);
      expect(lines.length).toBeGreaterThanOrEqual(3);
      for (const l of lines) expect(l).toMatchObject({ correlation_id: uid, trace_id: traceId });
    }
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(
      /parley_sfu_voice_final_latency_seconds_count\{[^}]*outcome="ok"[^}]*\} [2-9]/,
    );
    expect(metrics).toMatch(/parley_sfu_voice_tap_streams\{[^}]*\} 1/);
  });

  it('sfu.say.start plays TTS audio through the agent producer: announced, consumed, decoded, paced', async () => {
    const roomId = `${run}-say`;
    const room = await openRoom(roomId, { ttsVoice: 'room-voice' });
    const opened = collect(sfuEvents.producerOpened, roomId);
    const sayStarted = collect(voiceEvents.sayStarted, roomId);
    const sayEnded = collect(voiceEvents.sayEnded, roomId);
    await client.connection.flush();
    const bob = await room.join('bob');
    const reply = await client.request(
      voiceContracts.say,
      { roomId, text: 'tone:2', sayId: 'hello-1', requestedBy: 'peer:bob' },
      { tokens: [roomId] },
    );
    expect(reply).toMatchObject({ sayId: 'hello-1', queued: 0 });
    const rx = track(await connectWrtcDecoder(bob, reply.producerId));
    await eventually(() => opened.some((p) => p.peerId === 'agent'), 2_000);
    expect(at(opened, 0)).toMatchObject({
      producerId: reply.producerId,
      peerId: 'agent',
      kind: 'audio',
    });
    await eventually(() => sayEnded.length === 1, 5_000);
    expect(at(sayStarted, 0)).toMatchObject({
      roomId,
      sayId: 'hello-1',
      producerId: reply.producerId,
      voice: 'room-voice',
      text: 'tone:2',
      requestedBy: 'peer:bob',
    });
    const s = at(sayStarted, 0);
    // Generous: this machine is shared; the voice-loop bench measures the real figure.
    expect(s.firstPacketAt - s.requestedAt).toBeLessThan(3000);
    const e = at(sayEnded, 0);
    expect(e).toMatchObject({ sayId: 'hello-1', reason: 'done', playedMs: 2000 });
    // Real-time pacing: 2 s of audio took about 2 s to send.
    expect(e.endedAt - s.firstPacketAt).toBeGreaterThan(1850);
    expect(e.endedAt - s.firstPacketAt).toBeLessThan(2400);
    await waitForAsync(async () => (await rx.stats()).toneSamples > 24000, 3_000, 'decoded tone');
    const st = await rx.stats();
    const hz = st.zeroCrossings / 2 / (st.toneSamples / st.sampleRate);
    expect(hz).toBeGreaterThan(400);
    expect(hz).toBeLessThan(480);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/parley_sfu_voice_tts_first_packet_seconds_count\{[^}]*\} [1-9]/);
  });

  it('a participant starting to speak stops the agent (barge_in); stop and failures end with their reason', async () => {
    const roomId = `${run}-barge`;
    const room = await openRoom(roomId, { transcription: true });
    const sayEnded = collect(voiceEvents.sayEnded, roomId);
    await client.connection.flush();
    const carol = await room.join('carol');
    const say = (text: string, sayId: string, extra: object = {}) =>
      client.request(voiceContracts.say, { roomId, text, sayId, ...extra }, { tokens: [roomId] });
    // stop by id, while queued behind another
    await say('slowtone:10', 'long');
    expect((await say('tone:1', 'queued')).queued).toBe(1);
    await expect(say('tone:1', 'queued')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(
      await client.request(
        voiceContracts.sayStop,
        { roomId, sayId: 'queued' },
        { tokens: [roomId] },
      ),
    ).toEqual({ stopped: 1 });
    await new Promise((r) => setTimeout(r, 600));
    // a participant speaks: what plays stops
    track(await connectPcmSender(carol, { pcm: toneBurst(1500, 300), repeat: 1 }));
    await eventually(() => sayEnded.some((e) => e.sayId === 'long'), 10_000);
    expect(sayEnded.map((e) => [e.sayId, e.reason])).toEqual([
      ['queued', 'cancelled'],
      ['long', 'barge_in'],
    ]);
    const long = sayEnded.find((e) => e.sayId === 'long');
    expect(long?.playedMs).toBeGreaterThan(200);
    expect(long?.playedMs).toBeLessThan(9000);
    // the TTS synthesis of the stopped request (still running) was cancelled
    await eventually(() => ttsCancelled.length >= 1, 2_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(ttsSent.get('slowtone:10')).toBeLessThan(40);
    // TTS failure
    await say('fail', 'broken');
    await eventually(() => sayEnded.some((e) => e.sayId === 'broken'), 5_000);
    expect(sayEnded.find((e) => e.sayId === 'broken')).toMatchObject({
      reason: 'error',
      error: { code: 'ENGINE_FAILED' },
      playedMs: 0,
    });
  });

  it('bad speech requests get {code,message} errors; a room live nowhere gets NO_RESPONDERS', async () => {
    const roomId = `${run}-bad`;
    await openRoom(roomId);
    const subject = `sfu.say.start.${roomId}`;
    const bad = async (payload: unknown) => {
      const env = await raw(subject, payload);
      expect(env['ok']).toBe(false);
      return env['error'] as { code: string; message: string };
    };
    expect(await bad('{not json')).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await bad({ roomId, text: '   ' })).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('nothing to say'),
    });
    expect(await bad({ roomId, text: 'x'.repeat(6000) })).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await bad({ roomId, text: 'hi', loud: true })).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await bad({ roomId, text: 'hi', sayId: 'has space' })).toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(await bad({ roomId: 'another-room', text: 'hi' })).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('does not match'),
    });
    expect(await raw(`sfu.say.stop.${roomId}`, { roomId, sayId: 'nothing' })).toEqual({
      ok: true,
      data: { stopped: 0 },
    });
    const noRoom = `${run}-nowhere`;
    await expect(
      client.request(voiceContracts.say, { roomId: noRoom, text: 'hi' }, { tokens: [noRoom] }),
    ).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
    // A closed room stops serving its subjects.
    await client.request(sfuContracts.roomClose, { roomId }, { tokens: [media.nodeId] });
    await expect(
      client.request(voiceContracts.say, { roomId, text: 'hi' }, { tokens: [roomId] }),
    ).rejects.toMatchObject({ code: 'NO_RESPONDERS' });
  });
});
