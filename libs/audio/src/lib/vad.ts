/**
 * Voice activity detection: a frame classifier ({@link VadClassifier}) decides speech/silence per
 * frame; {@link VadSegmenter} turns those decisions into utterances — start after enough
 * consecutive speech, end after a silence hangover, with pre-roll so the onset is not clipped and a
 * maximum length so a never-ending talker still produces finals.
 *
 * Any classifier with the same interface can be plugged in (the energy detector in vad-energy.ts is
 * the default; a neural model would implement `classify` the same way).
 */

/** One frame's decision. */
export interface VadFrameDecision {
  /** Whether the frame is speech. */
  speech: boolean;
  /** Confidence-like score; for the energy detector, dB above the speech threshold. */
  score: number;
  /** Frame level in dBFS. */
  energyDb: number;
}

/** Frame-level speech/silence classifier. */
export interface VadClassifier {
  /** Sample rate the classifier expects. */
  readonly sampleRate: number;
  /** Samples per frame; `classify` is always called with exactly this many. */
  readonly frameSamples: number;
  /** Classifies the next frame of the stream (classifiers may adapt, e.g. track the noise floor). */
  classify(frame: Float32Array): VadFrameDecision;
  /** Forgets adaptive state. */
  reset(): void;
}

/** Tuning of {@link VadSegmenter}. All times in milliseconds. */
export interface VadSegmenterOptions {
  /** Consecutive speech needed to start an utterance (filters clicks). Default 60. */
  minSpeechMs?: number;
  /** Silence after the last speech frame that ends an utterance (the hangover). Default 500. */
  hangoverMs?: number;
  /** Audio kept before the detected start, so soft onsets are included. Default 200. */
  preRollMs?: number;
  /** Silence kept after the last speech frame in the utterance audio. Default 150. */
  tailMs?: number;
  /** An utterance longer than this is ended (reason `max-length`) and a new one begins. Default 30000. */
  maxUtteranceMs?: number;
  /** Called for every classified frame, e.g. for metrics or debugging. */
  onFrame?: (decision: VadFrameDecision & { startMs: number }) => void;
}

/** Utterance started; `startMs` includes the pre-roll. */
export interface VadStartEvent {
  type: 'start';
  /** Stream time of the first sample of the utterance audio. */
  startMs: number;
  /** Stream time of the first speech frame. */
  speechStartMs: number;
}

/** Utterance ended; `audio` spans `startMs`..`endMs` of the stream. */
export interface VadEndEvent {
  type: 'end';
  startMs: number;
  endMs: number;
  /** Why it ended: silence hangover, the maximum length, or `flush()` at end of stream. */
  reason: 'silence' | 'max-length' | 'flush';
  /** The utterance's samples (pre-roll + speech + tail). */
  audio: Float32Array;
}

/** Event emitted by {@link VadSegmenter}. */
export type VadEvent = VadStartEvent | VadEndEvent;

/**
 * Streaming utterance segmenter over a frame classifier. Feed audio of any chunk size with
 * `push()`; it returns the events completed by that audio. Times are stream times (samples
 * pushed since creation or `reset()`), so they are exact regardless of chunking.
 */
export class VadSegmenter {
  readonly #vad: VadClassifier;
  readonly #frame: number;
  readonly #startFrames: number;
  readonly #hangoverFrames: number;
  readonly #preRollFrames: number;
  readonly #tailFrames: number;
  readonly #maxFrames: number;
  readonly #onFrame?: VadSegmenterOptions['onFrame'];

  /** Partial frame carried to the next push. */
  #pending = new Float32Array(0);
  /** Index of the next frame to classify. */
  #frameIndex = 0;
  /** Recent frames while idle (pre-roll + start candidates). */
  #ring: Float32Array[] = [];
  #candidate = 0;
  /** Frames of the current utterance, or undefined while idle. */
  #utterance: Float32Array[] | undefined;
  #uttStartFrame = 0;
  #lastSpeechFrame = 0;

  constructor(vad: VadClassifier, options: VadSegmenterOptions = {}) {
    this.#vad = vad;
    this.#frame = vad.frameSamples;
    const frames = (ms: number) =>
      Math.max(0, Math.round((ms * vad.sampleRate) / 1000 / this.#frame));
    this.#startFrames = Math.max(1, frames(options.minSpeechMs ?? 60));
    this.#hangoverFrames = Math.max(1, frames(options.hangoverMs ?? 500));
    this.#preRollFrames = frames(options.preRollMs ?? 200);
    this.#tailFrames = Math.min(this.#hangoverFrames, frames(options.tailMs ?? 150));
    this.#maxFrames = Math.max(this.#startFrames + 1, frames(options.maxUtteranceMs ?? 30_000));
    this.#onFrame = options.onFrame;
  }

  /** Whether an utterance is in progress. */
  get inUtterance(): boolean {
    return this.#utterance !== undefined;
  }

  /** Stream time in ms up to which audio has been classified. */
  get positionMs(): number {
    return this.#ms(this.#frameIndex);
  }

  /** Audio of the utterance in progress so far (for partial transcripts), or undefined. */
  currentAudio(): Float32Array | undefined {
    return this.#utterance ? concat(this.#utterance) : undefined;
  }

  /** Processes more audio; returns the start/end events it completed, in order. */
  push(samples: Float32Array): VadEvent[] {
    const events: VadEvent[] = [];
    let data = samples;
    if (this.#pending.length > 0) {
      data = new Float32Array(this.#pending.length + samples.length);
      data.set(this.#pending, 0);
      data.set(samples, this.#pending.length);
    }
    let off = 0;
    while (off + this.#frame <= data.length) {
      // Copy: frames are retained (ring/utterance) and callers may reuse their buffers.
      this.#step(data.slice(off, off + this.#frame), events);
      off += this.#frame;
    }
    this.#pending = data.slice(off);
    return events;
  }

  /** Ends the stream: an utterance in progress ends with reason `flush`. Then resets. */
  flush(): VadEvent[] {
    const events: VadEvent[] = [];
    if (this.#utterance) events.push(this.#end('flush'));
    this.reset();
    return events;
  }

  /** Forgets everything (the classifier too); stream time restarts at 0. */
  reset(): void {
    this.#vad.reset();
    this.#pending = new Float32Array(0);
    this.#frameIndex = 0;
    this.#ring = [];
    this.#candidate = 0;
    this.#utterance = undefined;
  }

  #ms(frameIndex: number): number {
    return (frameIndex * this.#frame * 1000) / this.#vad.sampleRate;
  }

  #step(frame: Float32Array, events: VadEvent[]): void {
    const index = this.#frameIndex++;
    const decision = this.#vad.classify(frame);
    this.#onFrame?.({ ...decision, startMs: this.#ms(index) });

    if (this.#utterance) {
      this.#utterance.push(frame);
      if (decision.speech) this.#lastSpeechFrame = index;
      if (index - this.#lastSpeechFrame >= this.#hangoverFrames) {
        events.push(this.#end('silence'));
      } else if (this.#utterance.length >= this.#maxFrames) {
        events.push(this.#end('max-length'));
        if (decision.speech) {
          // The talker goes on: continue seamlessly with a new utterance from the next frame.
          this.#utterance = [];
          this.#uttStartFrame = index + 1;
          this.#lastSpeechFrame = index;
          events.push({
            type: 'start',
            startMs: this.#ms(index + 1),
            speechStartMs: this.#ms(index + 1),
          });
        }
      }
      return;
    }

    this.#ring.push(frame);
    if (this.#ring.length > this.#preRollFrames + this.#startFrames) this.#ring.shift();
    this.#candidate = decision.speech ? this.#candidate + 1 : 0;
    if (this.#candidate >= this.#startFrames) {
      const speechStart = index - this.#startFrames + 1;
      this.#utterance = this.#ring;
      this.#ring = [];
      this.#candidate = 0;
      this.#uttStartFrame = index - this.#utterance.length + 1;
      this.#lastSpeechFrame = index;
      events.push({
        type: 'start',
        startMs: this.#ms(this.#uttStartFrame),
        speechStartMs: this.#ms(speechStart),
      });
    }
  }

  #end(reason: VadEndEvent['reason']): VadEndEvent {
    const frames = this.#utterance ?? [];
    // Keep speech + tail; the trimmed silence becomes pre-roll for the next utterance.
    const keep =
      reason === 'max-length'
        ? frames.length
        : Math.min(
            frames.length,
            this.#lastSpeechFrame - this.#uttStartFrame + 1 + this.#tailFrames,
          );
    const audio = concat(frames.slice(0, keep));
    const event: VadEndEvent = {
      type: 'end',
      startMs: this.#ms(this.#uttStartFrame),
      endMs: this.#ms(this.#uttStartFrame + keep),
      reason,
      audio,
    };
    this.#ring = this.#preRollFrames > 0 ? frames.slice(keep).slice(-this.#preRollFrames) : [];
    this.#utterance = undefined;
    this.#candidate = 0;
    return event;
  }
}

function concat(frames: readonly Float32Array[]): Float32Array {
  let n = 0;
  for (const f of frames) n += f.length;
  const out = new Float32Array(n);
  let o = 0;
  for (const f of frames) {
    out.set(f, o);
    o += f.length;
  }
  return out;
}
