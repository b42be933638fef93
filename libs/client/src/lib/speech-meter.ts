import { Emitter } from './emitter';

/** Options of {@link LevelGate} and {@link SpeechMeter}. */
export interface LevelGateOptions {
  /** Level above which a frame is speech (dBFS, default -45). */
  thresholdDb?: number;
  /** Silence after the last loud frame before speech counts as ended (default 250 ms). */
  hangoverMs?: number;
  /** Shortest burst that counts as speech (default 120 ms). */
  minSpeechMs?: number;
}

/** Events of {@link LevelGate}. */
export type LevelGateEvents = {
  /** Speech started at the first loud frame (clock of the frames). */
  speechStarted: [{ at: number }];
  /** Speech ended: `at` is the last loud frame, decided `hangoverMs` later. */
  speechEnded: [{ at: number; startedAt: number; durationMs: number }];
};

/**
 * An energy gate over timestamped levels: where a burst of speech starts and where it ends. It
 * knows nothing about audio APIs, so it runs (and is tested) anywhere; {@link SpeechMeter} feeds
 * it from a microphone track in the browser.
 */
export class LevelGate extends Emitter<LevelGateEvents> {
  private readonly thresholdDb: number;
  private readonly hangoverMs: number;
  private readonly minSpeechMs: number;
  private firstLoud?: number;
  private lastLoud?: number;
  private announced = false;

  constructor(opts: LevelGateOptions = {}) {
    super();
    this.thresholdDb = opts.thresholdDb ?? -45;
    this.hangoverMs = opts.hangoverMs ?? 250;
    this.minSpeechMs = opts.minSpeechMs ?? 120;
  }

  /** Whether a speech burst is in progress (announced). */
  get speaking(): boolean {
    return this.announced;
  }

  /** Feeds one frame's level (dBFS) measured at `at` (ms). */
  push(levelDb: number, at: number): void {
    if (levelDb >= this.thresholdDb) {
      this.firstLoud ??= at;
      this.lastLoud = at;
      if (!this.announced && at - this.firstLoud >= this.minSpeechMs) {
        this.announced = true;
        this.emit('speechStarted', { at: this.firstLoud });
      }
      return;
    }
    if (this.lastLoud === undefined || at - this.lastLoud < this.hangoverMs) return;
    const startedAt = this.firstLoud ?? this.lastLoud;
    const endedAt = this.lastLoud;
    const wasSpeech = this.announced;
    this.firstLoud = undefined;
    this.lastLoud = undefined;
    this.announced = false;
    if (wasSpeech)
      this.emit('speechEnded', { at: endedAt, startedAt, durationMs: endedAt - startedAt });
  }
}

/** Root-mean-square level of samples in dBFS (-100 for silence). */
export function rmsDb(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i] ?? 0;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  return rms > 0 ? Math.max(-100, 20 * Math.log10(rms)) : -100;
}

/** Events of {@link SpeechMeter}. */
export type SpeechMeterEvents = LevelGateEvents & {
  /** The level of the latest frame (dBFS). */
  level: [number];
};

/**
 * Browser only: measures a microphone track's level with WebAudio and tells where the local
 * speaker's bursts start and end — the client's side of "end of speech → final transcript"
 * (feed each `speechEnded` burst to `RoomClient.markSpeech`) and the local speaking indicator.
 */
export class SpeechMeter extends Emitter<SpeechMeterEvents> {
  private readonly gate: LevelGate;
  private ctx?: AudioContext;
  private timer?: ReturnType<typeof setInterval>;
  private levelNow = -100;

  constructor(
    private readonly track: MediaStreamTrack,
    private readonly opts: LevelGateOptions & {
      /** Frame interval (default 20 ms). */
      intervalMs?: number;
      /** Clock (default `performance.now()`), the one `RoomClient` uses. */
      now?: () => number;
    } = {},
  ) {
    super();
    this.gate = new LevelGate(opts);
    this.gate.on('speechStarted', (e) => this.emit('speechStarted', e));
    this.gate.on('speechEnded', (e) => this.emit('speechEnded', e));
  }

  /** The latest level (dBFS). */
  get level(): number {
    return this.levelNow;
  }

  /** Whether the local speaker is speaking. */
  get speaking(): boolean {
    return this.gate.speaking;
  }

  /** Starts metering (call from a user gesture so the AudioContext may run). */
  async start(): Promise<void> {
    if (this.ctx) return;
    const ctx = new AudioContext();
    this.ctx = ctx;
    if (ctx.state === 'suspended') await ctx.resume().catch(() => undefined);
    const source = ctx.createMediaStreamSource(new MediaStream([this.track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    source.connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const now = this.opts.now ?? (() => performance.now());
    // A timer, not requestAnimationFrame: hidden and headless pages get no frames.
    this.timer = setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      this.levelNow = this.track.enabled ? rmsDb(buf) : -100;
      this.emit('level', this.levelNow);
      this.gate.push(this.levelNow, now());
    }, this.opts.intervalMs ?? 20);
  }

  /** Stops metering (the track keeps running). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    void this.ctx?.close().catch(() => undefined);
    this.ctx = undefined;
  }
}
