/** A burst of local speech (client clock, ms). */
export interface SpeechBurst {
  startedAt: number;
  endedAt: number;
}

/** What a final transcript says about its utterance. */
export interface FinalTiming {
  /** Client clock when the final arrived. */
  receivedAt: number;
  /** Start and end of the utterance on the server's timeline of the microphone stream (ms). */
  startMs?: number;
  endMs?: number;
}

/** Options of {@link SpeechEndMatcher}. */
export interface SpeechEndMatcherOptions {
  /**
   * Silence that ends an utterance (default 400 ms, the SFU tap's default VAD hangover): bursts
   * closer than this belong to one utterance, and an utterance cannot have been finalised
   * before this much silence followed it.
   */
  silenceMs?: number;
  /** Forget bursts older than this (default 30 s). */
  horizonMs?: number;
  /**
   * How far a local utterance's end may be from where the server's timeline puts the final's
   * end (default 1500 ms), and how far its duration may be from the final's when there is no
   * timeline (default 500 ms, or 30 % of the duration if more: the server pads utterances).
   */
  toleranceMs?: number;
  durationToleranceMs?: number;
}

/** Timeline anchors remembered for the median (the server's clock drifts a little from ours). */
const ANCHORS = 5;
/** Consecutive finals without a local utterance where the timeline says, before it is dropped. */
const MAX_MISSES = 3;

/**
 * Finds where the speaker's own utterance ended, for "end of speech → final transcript". The
 * client knows its local speech bursts (from a level meter, or from what a Node client sent),
 * merged into utterances at gaps of `silenceMs`, but not how the server's VAD cut them.
 *
 * A final carries its utterance's place on the server's timeline of the microphone stream, which
 * starts when the stream's first audio arrives (about when the producer was created). With that
 * origin ({@link setOrigin}) the final's end maps to our clock, and the local utterance ending
 * nearest to it (within `toleranceMs`) is the one; each match re-anchors the timeline (median of
 * the last few). Without an origin (or after repeated misses) finals are taken in order: the
 * oldest finished utterance, or run of utterances the server heard as one, whose duration fits.
 */
export class SpeechEndMatcher {
  private bursts: SpeechBurst[] = [];
  private anchors: number[] = [];
  private misses = 0;
  private readonly silenceMs: number;
  private readonly horizonMs: number;
  private readonly toleranceMs: number;
  private readonly durationToleranceMs: number;

  constructor(opts: SpeechEndMatcherOptions = {}) {
    this.silenceMs = opts.silenceMs ?? 400;
    this.horizonMs = opts.horizonMs ?? 30_000;
    this.toleranceMs = opts.toleranceMs ?? 1500;
    this.durationToleranceMs = opts.durationToleranceMs ?? 500;
  }

  /** Our clock at the server timeline's zero (a new microphone producer starts a new timeline). */
  setOrigin(at: number): void {
    this.anchors = [at];
    this.misses = 0;
  }

  /** The current estimate of the timeline's zero on our clock. */
  get origin(): number | undefined {
    if (this.anchors.length === 0) return undefined;
    const sorted = [...this.anchors].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  /** Records a local burst of speech. */
  add(burst: SpeechBurst): void {
    this.bursts.push(burst);
    this.bursts.sort((a, b) => a.startedAt - b.startedAt);
    const horizon = burst.endedAt - this.horizonMs;
    this.bursts = this.bursts.filter((b) => b.endedAt >= horizon);
  }

  /**
   * The end (our clock) of the local utterance a final closes; the bursts up to it are used up.
   * Undefined when no local utterance fits.
   */
  match(final: FinalTiming): number | undefined {
    const utterances: SpeechBurst[] = [];
    for (const b of this.bursts) {
      const last = utterances.at(-1);
      if (last && b.startedAt - last.endedAt < this.silenceMs) {
        last.endedAt = Math.max(last.endedAt, b.endedAt);
      } else utterances.push({ ...b });
    }
    // Finalised needs the silence after it to have passed (at the server, before it arrived).
    const done = utterances.filter((u) => u.endedAt + this.silenceMs <= final.receivedAt);
    const pick =
      this.origin !== undefined && final.endMs !== undefined
        ? this.onTimeline(done, final.endMs)
        : this.inOrder(done, final);
    if (!pick) return undefined;
    this.bursts = this.bursts.filter((b) => b.startedAt > pick.endedAt);
    return pick.endedAt;
  }

  private onTimeline(done: SpeechBurst[], endMs: number): SpeechBurst | undefined {
    const expected = (this.origin as number) + endMs;
    let best: SpeechBurst | undefined;
    for (const u of done) {
      if (!best || Math.abs(u.endedAt - expected) < Math.abs(best.endedAt - expected)) best = u;
    }
    if (best && Math.abs(best.endedAt - expected) <= this.toleranceMs) {
      this.misses = 0;
      this.anchors = [...this.anchors, best.endedAt - endMs].slice(-ANCHORS);
      return best;
    }
    // The timeline may have restarted (a new stream at the server): after a few misses, forget
    // it and go by order until a new anchor is set.
    if (++this.misses >= MAX_MISSES) this.anchors = [];
    return undefined;
  }

  private inOrder(done: SpeechBurst[], final: FinalTiming): SpeechBurst | undefined {
    if (done.length === 0) return undefined;
    const duration =
      final.endMs !== undefined && final.startMs !== undefined
        ? final.endMs - final.startMs
        : undefined;
    if (duration === undefined || duration <= 0) return done[0];
    const tolerance = Math.max(this.durationToleranceMs, duration * 0.3);
    let closest: { err: number; u: SpeechBurst } | undefined;
    for (let i = 0; i < done.length; i++) {
      for (let k = i; k < done.length; k++) {
        const u = done[k] as SpeechBurst;
        const err = Math.abs(u.endedAt - (done[i] as SpeechBurst).startedAt - duration);
        if (err <= tolerance) {
          if (final.endMs !== undefined) this.anchors = [u.endedAt - final.endMs];
          return u;
        }
        if (!closest || err < closest.err) closest = { err, u };
      }
    }
    return closest?.u;
  }
}
