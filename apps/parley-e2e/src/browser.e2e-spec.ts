import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InboundStats, LatencySample, TranscriptEvent } from '@parley/client';
import {
  type PrivateServer,
  type ServiceProcess,
  WORKSPACE_ROOT,
  eventually,
  freePort,
  mediasoupWorkerBin,
  spawnService,
  startNatsServer,
  testRunId,
  waitForHttp,
} from '@parley/testing';
import { type Browser, type BrowserContext, type Page, chromium } from 'playwright-core';

// The demo page in Debian's headless Chromium against the real services (signaling, sfu with its
// audio tap and agent playback, stt-worker on the synthetic model for the realtime lane, tts on
// the fixture voice) on a private NATS and the shared
// Redis. Chromium's fake microphone plays a WAV that espeak-ng renders at test time. With the
// synthetic Whisper model the words are meaningless: the tests assert events, participants and
// timing, never text.

const CHROMIUM = process.env['PARLEY_CHROMIUM'] ?? '/usr/bin/chromium';
const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ARTIFACTS = join(WORKSPACE_ROOT, 'test-artifacts');
const TENANT = {
  tenant: 'webtest',
  apiKey: 'APIweb00001',
  apiSecret: 'web-secret-0123456789abcdefghijklmnopq',
};

/** Speech, then silence (so the tap's VAD ends each utterance); Chromium loops the file. */
function speechWav(dir: string): string {
  const raw = join(dir, 'speech-raw.wav');
  const out = join(dir, 'speech.wav');
  execFileSync('espeak-ng', [
    '-s',
    '150',
    '-w',
    raw,
    'Parley turns speech into text while people talk in the room.',
  ]);
  // 48 kHz mono 16-bit PCM: half a second of silence, the sentence, two and a half seconds of silence.
  execFileSync('ffmpeg', [
    ...['-y', '-v', 'error', '-i', raw],
    ...['-af', 'adelay=500:all=1,apad=pad_dur=2.5', '-ar', '48000', '-ac', '1'],
    ...['-c:a', 'pcm_s16le', out],
  ]);
  return out;
}

type Parley = {
  room?: {
    peerId?: string;
    state: string;
    micProducerId?: string;
    latencies: Partial<Record<string, LatencySample>>;
    getInboundStats(): Promise<InboundStats[]>;
    signaling: { dropForTest(): void };
    on(event: string, fn: (e: unknown) => void): () => void;
  };
};
declare const window: { parley?: Parley; collected?: Record<string, unknown[]> };

/** Opens the page, joins `room` as `identity` through the form, and starts collecting events. */
async function joinPage(
  browser: Browser,
  base: string,
  room: string,
  identity: string,
  opts: { mic: boolean },
): Promise<{ ctx: BrowserContext; page: Page; peerId: string; joinedAt: number }> {
  const ctx = await browser.newContext({ viewport: { width: 1180, height: 900 } });
  const page = await ctx.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/?room=${room}&identity=${identity}${opts.mic ? '' : '&mic=0'}`);
  await page.waitForFunction(() => window.parley !== undefined, undefined, { timeout: 30_000 });
  expect(await page.isVisible('#credentials')).toBe(false); // dev tokens are on
  await page.check('#opt-transcription');
  await page.click('#join');
  await page.waitForSelector('#state[data-state="joined"]', { timeout: 30_000 });
  if (opts.mic) {
    await page.waitForSelector('#participants li[data-local="true"][data-producing="true"]', {
      timeout: 30_000,
    });
  }
  const peerId = await page.evaluate(() => {
    const room = window.parley?.room;
    const c: Record<string, unknown[]> = {};
    window.collected = c;
    for (const e of [
      'transcriptPartial',
      'transcriptFinal',
      'ttsStarted',
      'ttsEnded',
      'latency',
      'reconnected',
    ]) {
      room?.on(e, (d) => (c[e] ??= []).push(d));
    }
    return room?.peerId ?? '';
  });
  expect(errors).toEqual([]);
  return { ctx, page, peerId, joinedAt: Date.now() };
}

const collected = <T>(page: Page, event: string): Promise<T[]> =>
  page.evaluate((e) => (window.collected?.[e] ?? []) as never, event) as Promise<T[]>;

const inbound = (page: Page): Promise<InboundStats[]> =>
  page.evaluate(() => window.parley?.room?.getInboundStats() ?? Promise.resolve([]));

describe('the demo page in headless Chromium (real services)', () => {
  const run = testRunId('web');
  const room = `web-${run}`;
  const procs: ServiceProcess[] = [];
  let nats: PrivateServer;
  let dir: string;
  let base: string;
  let browser: Browser;
  let alice: Awaited<ReturnType<typeof joinPage>>;
  let bob: Awaited<ReturnType<typeof joinPage>>;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: the bootstrap installs Debian's chromium as root`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'parley-web-'));
    const wav = speechWav(dir);
    nats = await startNatsServer();
    const ports = {
      sfu: await freePort(),
      worker: await freePort(),
      tts: await freePort(),
      signaling: await freePort(),
    };
    const common = { NATS_URL: nats.url, LOG_LEVEL: 'warn' };
    procs.push(
      spawnService('sfu', {
        ...common,
        SFU_HTTP_PORT: String(ports.sfu),
        SFU_WORKERS: '1',
        SFU_LISTEN_IP: '127.0.0.1',
        SFU_RTC_PORT_BASE: '0',
        SFU_AUDIO_LEVEL_INTERVAL_MS: '200',
        PARLEY_NODE_ID: `sfu-${run}`,
        MEDIASOUP_WORKER_BIN: mediasoupWorkerBin(),
      }),
      spawnService('stt-worker', {
        ...common,
        STT_WORKER_HTTP_PORT: String(ports.worker),
        STT_WORKER_HTTP_HOST: '127.0.0.1',
        STT_WORKER_THREADS: '1',
        PARLEY_NODE_ID: `stt-worker-${run}`,
      }),
      spawnService('tts', {
        ...common,
        REDIS_URL: REDIS,
        REDIS_KEY_PREFIX: `${run}:tts:`,
        TTS_HTTP_PORT: String(ports.tts),
      }),
      spawnService('signaling', {
        ...common,
        REDIS_URL: REDIS,
        REDIS_KEY_PREFIX: `${run}:`,
        SIGNALING_HTTP_PORT: String(ports.signaling),
        SIGNALING_TENANT_KEYS: JSON.stringify([TENANT]),
        SIGNALING_DEV_TOKENS: TENANT.apiKey,
        PARLEY_NODE_ID: `signaling-${run}`,
      }),
    );
    base = `http://127.0.0.1:${ports.signaling}`;
    const urls = [ports.sfu, ports.worker, ports.tts, ports.signaling];
    await Promise.all(
      urls.map((p, i) =>
        waitForHttp(`http://127.0.0.1:${p}/ready`, 200, 90_000).catch((err: Error) => {
          const proc = procs[i] as ServiceProcess;
          const tail = [...proc.text, ...proc.logs.map((l) => JSON.stringify(l))].slice(-15);
          throw new Error(`${proc.name} not ready: ${err.message}\n${tail.join('\n')}`);
        }),
      ),
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
      ],
    });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all(procs.map((p) => p.stop()));
    await nats?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the page joins with its fake microphone, and a second page hears it (inbound RTP bytes > 0) and lists it', async () => {
    const t0 = Date.now();
    alice = await joinPage(browser, base, room, 'alice', { mic: true });
    const joinMs = Date.now() - t0;
    bob = await joinPage(browser, base, room, 'bob', { mic: false });
    expect(alice.peerId).not.toBe('');
    expect(bob.peerId).not.toBe(alice.peerId);

    // Bob consumes Alice's microphone and bytes arrive.
    const heard = await eventually(
      async () => {
        const s = (await inbound(bob.page)).find((x) => x.peerId === alice.peerId);
        return s && s.bytesReceived > 0 && s.packetsReceived > 10 ? s : undefined;
      },
      30_000,
      250,
    );
    expect(heard.kind).toBe('audio');
    // Each page lists the other; Alice's page measured its join.
    await bob.page.waitForSelector(`#participants li[data-peer-id="${alice.peerId}"]`);
    await alice.page.waitForSelector(`#participants li[data-peer-id="${bob.peerId}"]`);
    const joinLatency = Number(await alice.page.getAttribute('#lat-join', 'data-ms'));
    expect(joinLatency).toBeGreaterThan(0);
    expect(joinLatency).toBeLessThan(joinMs);
    // Bob's inbound table in the page shows the bytes too.
    await bob.page.waitForSelector(`#inbound tr[data-peer-id="${alice.peerId}"]`, {
      timeout: 5000,
    });
    await alice.page.screenshot({ path: join(ARTIFACTS, 'browser-join.png'), fullPage: true });
  });

  it('a final transcript of the speaking participant appears in its page (and the other page), with end of speech → final measured', async () => {
    expect(alice).toBeDefined();
    // Alice's fake microphone speaks a sentence every ~4 s; the tap's VAD closes each utterance.
    const line = `#transcripts .line.final[data-peer-id="${alice.peerId}"]`;
    await alice.page.waitForSelector(line, { timeout: 60_000 });
    const finals = await collected<TranscriptEvent>(alice.page, 'transcriptFinal');
    const mine = finals.filter((f) => f.peerId === alice.peerId);
    expect(mine.length).toBeGreaterThan(0);
    const f = mine[0] as TranscriptEvent;
    expect(f).toMatchObject({ final: true, isLocal: true, identity: 'alice' });
    expect(typeof f.utteranceId).toBe('string');
    expect(typeof f.text).toBe('string');
    // Timing: the utterance has a span on the producer's timeline, within the ~1.5 s sentence
    // (plus VAD padding), and arrived within seconds of the page starting to speak.
    expect(f.endMs).toBeGreaterThan(f.startMs);
    expect((f.endMs ?? 0) - f.startMs).toBeLessThan(10_000);
    const eos = await eventually(async () => {
      const l = await collected<LatencySample>(alice.page, 'latency');
      return l.find((x) => x.kind === 'eosToFinal');
    }, 30_000);
    expect(eos.ms).toBeGreaterThan(0);
    expect(eos.ms).toBeLessThan(15_000);
    expect(Number(await alice.page.getAttribute('#lat-eos', 'data-ms'))).toBeGreaterThan(0);
    // Partials of the utterance were shown as partials and replaced by the final: one line.
    const lines = await alice.page.$$eval(
      `#transcripts .line[data-utterance-id="${f.utteranceId}"]`,
      (els) => els.map((e) => e.className),
    );
    expect(lines).toEqual(['line final']);
    const partials = await collected<TranscriptEvent>(alice.page, 'transcriptPartial');
    for (const p of partials.filter((x) => x.utteranceId === f.utteranceId)) {
      expect(p.receivedAt).toBeLessThanOrEqual(f.receivedAt);
    }
    // Everyone in the room sees it, attributed to Alice.
    await bob.page.waitForSelector(`#transcripts .line[data-peer-id="${alice.peerId}"]`, {
      timeout: 15_000,
    });
    await alice.page.screenshot({
      path: join(ARTIFACTS, 'browser-transcript.png'),
      fullPage: true,
    });
  });

  it('text typed in the page is spoken into the room by the agent and arrives as audio at the other participant', async () => {
    expect(alice).toBeDefined();
    await alice.page.fill('#say-text', 'Hello from the browser test.');
    await alice.page.click('#say');
    // Bob's page consumes the agent's producer and receives its audio.
    const agent = await eventually(
      async () => {
        const s = (await inbound(bob.page)).find((x) => x.peerId === 'agent');
        return s && s.bytesReceived > 0 ? s : undefined;
      },
      30_000,
      100,
    );
    expect(agent.packetsReceived).toBeGreaterThan(0);
    await bob.page.waitForSelector('#participants li[data-peer-id="agent"]');
    // Alice's page measured say → first audio and heard the speech events.
    const say = await eventually(async () => {
      const l = await collected<LatencySample>(alice.page, 'latency');
      return l.find((x) => x.kind === 'sayToFirstAudio');
    }, 30_000);
    expect(say.ms).toBeGreaterThan(0);
    expect(say.ms).toBeLessThan(10_000);
    await eventually(async () => (await collected(alice.page, 'ttsEnded')).length > 0, 30_000);
    expect(await collected(alice.page, 'ttsStarted')).toHaveLength(1);
    // The page shows what the agent said, and both pages list the agent.
    await alice.page.waitForSelector('#transcripts .line.agent.final[data-say-id]');
    await alice.page.waitForSelector('#participants li[data-peer-id="agent"]');
    await alice.page.screenshot({
      path: join(ARTIFACTS, 'browser-voice-loop.png'),
      fullPage: true,
    });
    // What the page measured, for the record (the bench measures these properly).
    const latencies = await collected<LatencySample>(alice.page, 'latency');
    writeFileSync(
      join(ARTIFACTS, 'browser-latencies.json'),
      `${JSON.stringify({ room, latencies }, null, 2)}\n`,
    );
  });

  it('when its socket drops, the page resumes its session (ICE restart) and keeps hearing the room', async () => {
    expect(bob).toBeDefined();
    const before = (await inbound(bob.page)).find((x) => x.peerId === alice.peerId);
    expect(before?.bytesReceived).toBeGreaterThan(0);
    await bob.page.evaluate(() => window.parley?.room?.signaling.dropForTest());
    await bob.page.waitForSelector('#state[data-state="reconnecting"]', { timeout: 5000 });
    await bob.page.waitForSelector('#state[data-state="joined"]', { timeout: 30_000 });
    expect(await collected(bob.page, 'reconnected')).toEqual([{ resumed: true }]);
    // Same peer: Alice still lists Bob once and never saw him leave.
    expect(await alice.page.$$(`#participants li[data-peer-id="${bob.peerId}"]`)).toHaveLength(1);
    const after = await eventually(
      async () => {
        const s = (await inbound(bob.page)).find((x) => x.peerId === alice.peerId);
        return s &&
          s.consumerId === before?.consumerId &&
          s.packetsReceived > (before?.packetsReceived ?? 0) + 100
          ? s
          : undefined;
      },
      20_000,
      250,
    );
    expect(after.bytesReceived).toBeGreaterThan(before?.bytesReceived ?? 0);
  });
});
