/**
 * Live utterances from a stream of 16 kHz PCM: a VAD ({@link EnergyVad} + {@link VadSegmenter})
 * says where speech starts and ends, and while it goes on a partial (the utterance so far) is
 * offered every `partialIntervalMs` of audio — what a live transcript needs.
 *
 * Usage:
 * ```ts
 * const utt = new UtteranceSegmenter({ partialIntervalMs: 1000, segmenter: { hangoverMs: 400 } });
 * for (const e of utt.push(pcm16k)) {
 *   if (e.type === 'start') announce(e.speechStartMs);
 *   else if (e.type === 'partial') transcribe('partial', e.audio, e.seq);
 *   else transcribe('final', e.audio);                     // e.type === 'end'
 * }
 * utt.flush();                                             // stream over: ends an open utterance
 * ```
 */
import { EnergyVad, type EnergyVadOptions } from './vad-energy';
import {
  type VadEndEvent,
  type VadSegmenterOptions,
  type VadStartEvent,
  VadSegmenter,
} from './vad';

/** The utterance so far, while speech goes on. */
export interface UtterancePartialEvent {
  type: 'partial';
  /** 0, 1, 2, … within the utterance. */
  seq: number;
  /** Stream time of the utterance's first sample (pre-roll included), ms. */
  startMs: number;
  /** Stream time up to which `audio` reaches, ms. */
  endMs: number;
  audio: Float32Array;
}

/** Event of an {@link UtteranceSegmenter}. */
export type UtteranceEvent = VadStartEvent | UtterancePartialEvent | VadEndEvent;

/** Options of {@link UtteranceSegmenter}. */
export interface UtteranceSegmenterOptions {
  /** Energy classifier tuning (its `sampleRate` defaults to 16000). */
  vad?: EnergyVadOptions;
  /** Segmenter tuning (min speech, hangover, pre-roll, tail, maximum length). */
  segmenter?: VadSegmenterOptions;
  /** Audio between partials, ms; 0 = no partials. Default 1000. */
  partialIntervalMs?: number;
}

/** Silence after the last speech frame from which partials are held back. */
const PAUSE_MS = 100;

/** VAD segmentation plus interval partials over one audio stream. */
export class UtteranceSegmenter {
  readonly sampleRate: number;
  readonly #segmenter: VadSegmenter;
  readonly #interval: number;
  #start?: VadStartEvent;
  #partials = 0;
  /** Stream time where the last speech frame ended. */
  #lastSpeechEndMs = 0;

  constructor(options: UtteranceSegmenterOptions = {}) {
    const vad = new EnergyVad({ sampleRate: 16_000, ...options.vad });
    this.sampleRate = vad.sampleRate;
    const frameMs = (vad.frameSamples * 1000) / vad.sampleRate;
    const onFrame = options.segmenter?.onFrame;
    this.#segmenter = new VadSegmenter(vad, {
      ...options.segmenter,
      onFrame: (d) => {
        if (d.speech) this.#lastSpeechEndMs = d.startMs + frameMs;
        onFrame?.(d);
      },
    });
    this.#interval = Math.max(0, options.partialIntervalMs ?? 1000);
  }

  /** Whether an utterance is in progress. */
  get inUtterance(): boolean {
    return this.#segmenter.inUtterance;
  }

  /** Stream time classified so far, ms. */
  get positionMs(): number {
    return this.#segmenter.positionMs;
  }

  /** Processes more audio; returns the events it completed, in order. */
  push(samples: Float32Array): UtteranceEvent[] {
    const out: UtteranceEvent[] = [];
    for (const e of this.#segmenter.push(samples)) this.#track(e, out);
    this.#maybePartial(out);
    return out;
  }

  /** Ends the stream (an open utterance ends with reason `flush`) and resets. */
  flush(): UtteranceEvent[] {
    const out: UtteranceEvent[] = [];
    for (const e of this.#segmenter.flush()) this.#track(e, out);
    this.#start = undefined;
    return out;
  }

  #track(e: VadStartEvent | VadEndEvent, out: UtteranceEvent[]): void {
    if (e.type === 'start') {
      this.#start = e;
      this.#partials = 0;
    } else {
      this.#start = undefined;
    }
    out.push(e);
  }

  #maybePartial(out: UtteranceEvent[]): void {
    const start = this.#start;
    if (!start || this.#interval === 0) return;
    const pos = this.#segmenter.positionMs;
    if (pos - start.startMs < (this.#partials + 1) * this.#interval) return;
    // Speech paused (the VAD is in its hangover): the final is probably near; a partial now would
    // only keep the STT worker busy when the final arrives. It comes if speech resumes.
    if (pos - this.#lastSpeechEndMs > PAUSE_MS) return;
    const audio = this.#segmenter.currentAudio();
    if (!audio) return;
    out.push({
      type: 'partial',
      seq: this.#partials,
      startMs: start.startMs,
      endMs: start.startMs + (audio.length * 1000) / this.sampleRate,
      audio,
    });
    // Skip intervals a large push jumped over: one partial per push at most.
    this.#partials = Math.floor((pos - start.startMs) / this.#interval);
  }
}
