import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { sttContracts, ttsContracts, ttsEvents } from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import {
  type ServiceProcess,
  freePort,
  mediasoupWorkerBin,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import {
  ProtocolSocket,
  type Reception,
  consumeProducer,
  publishMicrophone,
  silencePackets,
  speechPackets,
} from '@parley/testing/webrtc';
import { Writable } from 'node:stream';
import { benchLine, percentile, round } from './stats';

/**
 * voice-loop: a Node WebRTC participant (werift) speaks N espeak-ng utterances into a room with
 * live transcription and the echo agent, through the real signaling, SFU (tap + playback),
 * stt-worker (whisper.cpp) and tts (Piper) processes; a second participant listens.
 *
 * - eos_to_final: the last speech packet leaving the speaker → the final transcript notification
 *   arriving at the listener (includes the VAD's wait for silence).
 * - tts_first_audio: a `say` request sent over the WebSocket → the first audio packet arriving.
 * - mouth_to_ear: the last speech packet → the first packet of the echo agent's answer arriving.
 * Baselines in the same run: the utterance's whole WAV (with espeak-ng's leading and trailing
 * silence, so longer than what the VAD cuts) sent straight to `stt.realtime.transcribe`
 * (stt_direct), and the first chunk of `tts.synthesize` for the same kind of text, asked as the SFU
 * asks (tts_direct_first): tts_first_over_direct_ratio is what the SFU, WebRTC and signaling add.
 *
 *   npm run bench -- voice-loop [utterances=10]
 */
const N = Number(process.argv[2] ?? 10);
const REDIS = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const TENANT = {
  tenant: 'bench',
  apiKey: 'APIbench001',
  apiSecret: 'bench-secret-0123456789abcdefghijkl',
};
const AUTH = `Basic ${Buffer.from(`${TENANT.apiKey}:${TENANT.apiSecret}`).toString('base64')}`;
const SENTENCES = [
  'Parley turns speech into text.',
  'The meeting starts at nine.',
  'Please share the quarterly numbers.',
  'Can everyone hear me now?',
  'Let us move to the next item.',
  'I will send the notes after the call.',
];
/** Different text every time: a cached synthesis would not measure TTS. */
const sayText = (i: number) => `Thanks, noted item ${i + 1}.`;

const silentLogs = new Writable({ write: (_c, _e, cb) => cb() });

function pcm16k(wav: string): Buffer {
  return execFileSync('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-i', wav],
    ...['-ar', '16000', '-ac', '1', '-f', 's16le', '-'],
  ]);
}

/** First packet arrival at or after `t`. */
function firstArrivalAfter(rx: Reception, t: number): number | undefined {
  return rx.arrivals.find((a) => a >= t);
}

async function main(): Promise<void> {
  const run = testRunId('vlb');
  const dir = mkdtempSync(join(tmpdir(), 'parley-voice-bench-'));
  const procs: ServiceProcess[] = [];
  const urls: string[] = [];
  const service = async (name: string, portVar: string, env: Record<string, string>) => {
    const port = await freePort();
    procs.push(
      spawnService(name, {
        NATS_URL: NATS,
        [portVar]: String(port),
        PARLEY_NODE_ID: `${name}-${run}`,
        LOG_LEVEL: 'warn',
        ...env,
      }),
    );
    urls.push(`http://127.0.0.1:${port}`);
    return `http://127.0.0.1:${port}`;
  };
  // A private nats-server: no other process on this machine may serve the queue groups we use.
  const nats = await startNatsServer();
  const NATS = nats.url;
  const messaging = new NatsMessaging({
    servers: [NATS],
    name: 'voice-loop-bench',
    queue: 'bench',
    logger: createLogger({ service: 'bench', nodeId: 'bench', level: 'error', stream: silentLogs }),
  });
  try {
    await service('sfu', 'SFU_HTTP_PORT', {
      SFU_WORKERS: '1',
      SFU_LISTEN_IP: '127.0.0.1',
      SFU_RTC_PORT_BASE: '0',
      MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
    });
    const http = await service('signaling', 'SIGNALING_HTTP_PORT', {
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:`,
      SIGNALING_TENANT_KEYS: JSON.stringify([TENANT]),
    });
    await service('stt-worker', 'STT_WORKER_HTTP_PORT', {});
    // The medium-size stand-in voice costs what a real medium Piper voice costs (the tiny test
    // fixture would flatter TTS); a real voice when PARLEY_PIPER_VOICE is set.
    const standin = join(process.cwd(), '.parley', 'bench-voices', 'parley-standin-medium.onnx');
    const voice = process.env['PARLEY_PIPER_VOICE'] ?? (existsSync(standin) ? standin : undefined);
    await service('tts', 'TTS_HTTP_PORT', {
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:tts:`,
      TTS_CACHE: 'false',
      ...(voice ? { PARLEY_PIPER_VOICE: voice } : {}),
    });
    const voiceName = voice ? voice.replace(/^.*\//, '').replace(/\.onnx$/, '') : 'fixture';
    await Promise.all(urls.map((u) => waitForHttp(`${u}/ready`, 200, 120_000)));
    messaging.start();
    await messaging.waitUntilConnected();
    const workerInfo = (await (await fetch(`${urls[2]}/ready`)).json()) as Record<string, unknown>;
    const model = /synthetic/i.test(JSON.stringify(workerInfo)) ? 'synthetic-tiny' : 'real';

    const room = `bench-${run}`;
    const created = await fetch(`${http}/v1/rooms`, {
      method: 'POST',
      headers: { authorization: AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ name: room, transcription: true, agent: 'echo', bargeIn: false }),
    });
    if (created.status !== 201) throw new Error(`room: ${created.status} ${await created.text()}`);
    const wsUrl = `${http.replace('http', 'ws')}/v1/ws`;
    const join_ = async (identity: string) => {
      const res = await fetch(`${http}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: AUTH, 'content-type': 'application/json' },
        body: JSON.stringify({ identity, room }),
      });
      const s = await ProtocolSocket.open(wsUrl, ((await res.json()) as { token: string }).token);
      return { s, join: await s.request('join', { displayName: identity }) };
    };
    const speaker = await join_('speaker');
    const listener = await join_('listener');
    const mic = await publishMicrophone(speaker.s, silencePackets(1));

    // Warm-up: the agent producer appears on the first say; the listener consumes it.
    const warm = await listener.s.request('say', { text: 'Warming up.' });
    const rx = await consumeProducer(listener.s, warm.producerId);
    await listener.s.waitFor('ttsEnded', (d) => d['requestId'] === warm.requestId, 30_000);

    const utterances = SENTENCES.map((text, i) => {
      const wav = join(dir, `u${i}.wav`);
      const packets = speechPackets(text, wav);
      return { text, packets, pcm: pcm16k(wav) };
    });

    // Baselines: the realtime lane called directly on the same audio; TTS's own first chunk.
    const sttDirect: number[] = [];
    const ttsDirect: number[] = [];
    const sttEngine: number[] = [];
    for (let i = 0; i < Math.max(3, Math.min(N, 6)); i++) {
      const u = utterances[i % utterances.length] as (typeof utterances)[number];
      const t0 = performance.now();
      const res = await messaging.request(sttContracts.realtimeTranscribe, {
        utteranceId: `direct-${run}-${i}`,
        kind: 'final',
        startMs: 0,
        audio: u.pcm,
      });
      sttDirect.push(performance.now() - t0);
      sttEngine.push(res.timing.processMs);
      const streamId = `vlb-${run}-${i}`;
      let first = 0;
      const t1 = performance.now();
      const unsub = messaging.subscribe(
        ttsEvents.streamChunk,
        () => {
          if (!first) first = performance.now() - t1;
        },
        { tokens: [streamId] },
      );
      await messaging.request(ttsContracts.synthesize, {
        streamId,
        text: sayText(1000 + i),
        cache: false,
        firstChunkChars: 16, // as the SFU asks: the baseline is the same synthesis
      });
      unsub();
      ttsDirect.push(first);
    }

    // The loop: speak, wait for the final at the listener and the agent's answer.
    const eosToFinal: number[] = [];
    const mouthToEar: number[] = [];
    const finalToRequest: number[] = [];
    const sfuFirstPacket: number[] = [];
    let misses = 0;
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < N; i++) {
      const u = utterances[i % utterances.length] as (typeof utterances)[number];
      const mark = listener.s.notes.length;
      const spoken = await mic.speak(u.packets);
      try {
        const final = await listener.s.waitFor(
          'transcriptFinal',
          (d) => d['peerId'] === speaker.join.peerId,
          20_000,
          mark,
        );
        eosToFinal.push(final.at - spoken.endedAt);
        const answer = await listener.s.waitFor('ttsStarted', () => true, 20_000, mark);
        const a = answer.data as { requestedAt: number; firstPacketAt: number };
        finalToRequest.push(a.requestedAt - final.at);
        sfuFirstPacket.push(a.firstPacketAt - a.requestedAt);
        await listener.s.waitFor(
          'ttsEnded',
          (d) => d['requestId'] === answer.data['requestId'],
          30_000,
          mark,
        );
        const heard = firstArrivalAfter(rx, final.at - 50);
        if (heard !== undefined) mouthToEar.push(heard - spoken.endedAt);
      } catch (err) {
        misses++;
        process.stderr.write(`utterance ${i}: ${(err as Error).message}\n`);
      }
      await new Promise((r) => setTimeout(r, 600));
    }

    // say → first audio packet at the listener.
    const ttsFirst: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = Date.now();
      const r = await listener.s.request('say', { text: sayText(i) });
      const ended = listener.s.waitFor('ttsEnded', (d) => d['requestId'] === r.requestId, 30_000);
      await ended;
      const heard = firstArrivalAfter(rx, t0);
      if (heard !== undefined) ttsFirst.push(heard - t0);
      await new Promise((r2) => setTimeout(r2, 200));
    }
    mic.close();
    rx.close();
    speaker.s.close();
    listener.s.close();

    const p50 = (v: number[]) => round(percentile(v, 50), 1);
    const eosP50 = p50(eosToFinal);
    const m2eP50 = p50(mouthToEar);
    process.stdout.write(
      `voice-loop: ${N} utterances (${misses} missed), eos→final ${eosToFinal.map((v) => v.toFixed(0)).join(' ')} ms; ` +
        `mouth→ear ${mouthToEar.map((v) => v.toFixed(0)).join(' ')} ms; say→first audio ${ttsFirst.map((v) => v.toFixed(0)).join(' ')} ms\n` +
        `agent: final→say reaches the SFU p50 ${p50(finalToRequest)} ms, SFU say→first packet p50 ${p50(sfuFirstPacket)} ms; ` +
        `direct stt calls ${sttDirect.map((v) => v.toFixed(0)).join(' ')} ms (engine ${sttEngine.map((v) => v.toFixed(0)).join(' ')} ms)\n`,
    );
    benchLine('voice-loop', {
      eos_to_final_p50_ms: eosP50,
      eos_to_final_p95_ms: round(percentile(eosToFinal, 95), 1),
      tts_first_audio_p50_ms: p50(ttsFirst),
      mouth_to_ear_p50_ms: m2eP50,
      agent_added_ms: round(m2eP50 - eosP50, 1),
      stt_direct_p50_ms: p50(sttDirect),
      eos_over_direct_ratio: round(eosP50 / percentile(sttDirect, 50), 2),
      tts_direct_first_p50_ms: p50(ttsDirect),
      tts_first_over_direct_ratio: round(p50(ttsFirst) / percentile(ttsDirect, 50), 2),
      n: N,
      misses,
      model,
      voice: voiceName,
      load1: round(loadavg()[0] ?? 0, 2),
    });
  } finally {
    await messaging.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop()));
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`voice-loop bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
