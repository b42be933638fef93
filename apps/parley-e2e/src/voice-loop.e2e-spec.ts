import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OtlpReceiver,
  type PrivateServer,
  type ServiceProcess,
  eventually,
  freePort,
  mediasoupWorkerBin,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import {
  ProtocolSocket,
  consumeProducer,
  publishMicrophone,
  silencePackets,
  speechPackets,
} from '@parley/testing/webrtc';

// The voice loop with every real piece and a real Node WebRTC participant: signaling, the SFU
// (mediasoup; audio tap and agent playback), an stt-worker (whisper.cpp on the synthetic tiny
// model: words are meaningless, so the test asserts events, speakers and timing) and tts (Piper
// on the fixture voice), on a private NATS, exporting spans to an OTLP receiver. Alice speaks
// espeak-ng speech into a room with live transcription and the echo agent; everyone gets her
// final transcript; the agent answers and Bob hears it; one trace covers tap → STT → delivery.

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TENANT = {
  tenant: 'acme',
  apiKey: 'APIvoice001',
  apiSecret: 'voice-secret-0123456789abcdefghijklmnop',
};
const AUTH = `Basic ${Buffer.from(`${TENANT.apiKey}:${TENANT.apiSecret}`).toString('base64')}`;

describe('voice loop: room audio → live transcripts → speech back into the room', () => {
  const run = testRunId('voice');
  const receiver = new OtlpReceiver();
  const procs: ServiceProcess[] = [];
  const byName = new Map<string, ServiceProcess>();
  const closers: Array<() => void> = [];
  let nats: PrivateServer;
  let http: string;
  let wsUrl: string;
  let dir: string;

  async function service(name: string, portVar: string, env: Record<string, string>) {
    const port = await freePort();
    const p = spawnService(name, {
      NATS_URL: nats.url,
      [portVar]: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      PARLEY_NODE_ID: `${name}-${run}`,
      LOG_LEVEL: 'info',
      ...env,
    });
    procs.push(p);
    byName.set(name, p);
    return `http://127.0.0.1:${port}`;
  }

  async function token(identity: string, room: string): Promise<string> {
    const res = await fetch(`${http}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ identity, room }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  }

  async function joined(identity: string, room: string) {
    const s = await ProtocolSocket.open(wsUrl, await token(identity, room));
    closers.push(() => s.close());
    return { s, join: await s.request('join', { displayName: identity }) };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parley-voice-'));
    await receiver.start();
    nats = await startNatsServer();
    const urls = await Promise.all([
      service('sfu', 'SFU_HTTP_PORT', {
        SFU_WORKERS: '1',
        SFU_LISTEN_IP: '127.0.0.1',
        SFU_RTC_PORT_BASE: '0',
        MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
      }),
      service('signaling', 'SIGNALING_HTTP_PORT', {
        REDIS_URL: REDIS,
        REDIS_KEY_PREFIX: `${run}:`,
        SIGNALING_TENANT_KEYS: JSON.stringify([TENANT]),
      }),
      service('stt-worker', 'STT_WORKER_HTTP_PORT', { STT_WORKER_THREADS: '1' }),
      service('tts', 'TTS_HTTP_PORT', { REDIS_URL: REDIS, REDIS_KEY_PREFIX: `${run}:tts:` }),
    ]);
    http = urls[1] as string;
    wsUrl = `${http.replace('http', 'ws')}/v1/ws`;
    await Promise.all(urls.map((u) => waitForHttp(`${u}/ready`, 200, 90_000)));
  }, 120_000);

  afterEach(() => {
    for (const c of closers.splice(0)) c();
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await nats?.dispose();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a participant speaks: every participant gets her final transcript in one trace (tap → STT → delivery); the echo agent answers and the other participant hears it', async () => {
    const room = `loop-${run}`;
    const created = await fetch(`${http}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ name: room, transcription: true, agent: 'echo' }),
    });
    expect(created.status).toBe(201);

    const alice = await joined('alice', room);
    const bob = await joined('bob', room);
    const mic = await publishMicrophone(alice.s, silencePackets(1));
    closers.push(() => mic.close());
    // Let the tap settle on silence, then speak one utterance.
    await new Promise((r) => setTimeout(r, 1000));
    const speech = speechPackets('Parley turns speech into text.', join(dir, 'alice.wav'));
    const spoken = await mic.speak(speech);

    const final = await bob.s.waitFor(
      'transcriptFinal',
      (d) => d['peerId'] === alice.join.peerId,
      30_000,
    );
    const d = final.data as {
      utteranceId: string;
      peerId: string;
      identity?: string;
      startMs: number;
      endMs: number;
      text: string;
    };
    expect(d.identity).toBe('alice');
    expect(typeof d.text).toBe('string');
    // The final comes after the end of speech, and its span covers about the spoken audio.
    expect(final.at).toBeGreaterThanOrEqual(spoken.endedAt);
    const spokenMs = speech.length * 20;
    expect(d.endMs - d.startMs).toBeGreaterThan(spokenMs * 0.6);
    expect(d.endMs - d.startMs).toBeLessThan(spokenMs + 1500);
    // Alice sees her own transcript too.
    await alice.s.waitFor('transcriptFinal', (x) => x['utteranceId'] === d.utteranceId, 5000);

    // The echo agent answers: its producer appears, Bob consumes it and audio arrives.
    const started = await bob.s.waitFor('ttsStarted', () => true, 30_000);
    const producerId = String(started.data['producerId']);
    const announced = bob.s
      .of('newProducer')
      .find((n) => n['producerId'] === producerId && n['peerId'] === 'agent');
    expect(announced).toBeDefined();
    const rx = await consumeProducer(bob.s, producerId);
    closers.push(() => rx.close());
    await bob.s.waitFor('ttsEnded', (x) => x['requestId'] === started.data['requestId'], 30_000);

    // A participant speaks into the room with `say`: Bob hears it on the same agent producer.
    const before = rx.bytes;
    const said = await alice.s.request('say', { text: 'Hello from Alice.' });
    expect(said.producerId).toBe(producerId);
    await bob.s.waitFor('ttsStarted', (x) => x['requestId'] === said.requestId, 15_000);
    await bob.s.waitFor('ttsEnded', (x) => x['requestId'] === said.requestId, 15_000);
    await eventually(() => rx.bytes > before, 5000);
    expect(rx.packets).toBeGreaterThan(10);

    // One trace per utterance: the SFU tap's span, the worker's, and signaling's delivery.
    const tap = await eventually(
      () =>
        receiver.spans.find(
          (s) =>
            s.service === 'sfu' &&
            s.name === 'sfu.utterance' &&
            s.attributes['parley.utterance_id'] === d.utteranceId,
        ),
      20_000,
    );
    const inTrace = (service: string, name: RegExp) =>
      eventually(
        () =>
          receiver.spans.find(
            (s) => s.traceId === tap.traceId && s.service === service && name.test(s.name),
          ),
        20_000,
      );
    await inTrace('stt-worker', /^stt\.realtime\.transcribe/);
    await inTrace('signaling', /^signaling\.transcript\.deliver$/);
    // The utterance's correlation id is in the worker's and signaling's log lines.
    const [sig, worker] = [byName.get('signaling'), byName.get('stt-worker')];
    await eventually(
      () =>
        worker?.logs.some(
          (l) =>
            l['utteranceId'] === d.utteranceId &&
            l['trace_id'] === tap.traceId &&
            l['correlation_id'] === d.utteranceId,
        ),
      10_000,
    );
    await eventually(
      () =>
        sig?.logs.some(
          (l) =>
            l['utteranceId'] === d.utteranceId &&
            l['trace_id'] === tap.traceId &&
            l['correlation_id'] === d.utteranceId,
        ),
      10_000,
    );
  }, 150_000);

  it('bad voice requests get clear errors: a listener cannot say, empty text is refused, REST say to a room nobody joined is ROOM_NOT_LIVE', async () => {
    const room = `bad-${run}`;
    const created = await fetch(`${http}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ name: room }),
    });
    expect(created.status).toBe(201);
    const say = (body: unknown) =>
      fetch(`${http}/v1/rooms/${room}/say`, {
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const notLive = await say({ text: 'anyone?' });
    expect(notLive.status).toBe(409);
    expect(await notLive.json()).toMatchObject({ code: 'ROOM_NOT_LIVE' });
    const empty = await say({ text: '   ' });
    expect(empty.status).toBe(400);
    expect(await empty.json()).toMatchObject({ code: 'BAD_REQUEST' });

    const res = await fetch(`${http}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'lou', room, role: 'listener' }),
    });
    const listener = await ProtocolSocket.open(
      wsUrl,
      ((await res.json()) as { token: string }).token,
    );
    closers.push(() => listener.close());
    await listener.request('join', {});
    await expect(listener.request('say', { text: 'hi' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    // Once someone is in the room, REST say is accepted.
    const ok = await say({ text: 'Welcome.' });
    expect(ok.status).toBe(202);
    await listener.waitFor('ttsStarted', () => true, 15_000);
  }, 60_000);
});
