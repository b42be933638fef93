import { rms, toDbfs } from './pcm';
import {
  type VadClassifier,
  type VadFrameDecision,
  VadSegmenter,
  type VadSegmenterOptions,
} from './vad';

/** Tuning of {@link EnergyVad}. Levels in dBFS / dB. */
export interface EnergyVadOptions {
  /** Sample rate of the audio. Default 16000. */
  sampleRate?: number;
  /** Frame length in ms (10, 20 or 30 are typical). Default 20. */
  frameMs?: number;
  /** A frame must be at least this loud to be speech, whatever the noise. Default -50 dBFS. */
  minSpeechDb?: number;
  /** …and this much above the tracked noise floor. Default 10 dB. */
  marginDb?: number;
  /** Noise floor assumed before any audio was seen. Default -70 dBFS. */
  initialNoiseDb?: number;
  /** How fast the noise floor may rise (it falls at once to quieter frames). Default 3 dB/s. */
  noiseRiseDbPerSec?: number;
}

/**
 * Energy-based frame classifier with an adaptive noise floor.
 *
 * Each frame's RMS level (dBFS) is compared with `max(minSpeechDb, noiseFloor + marginDb)`. The
 * noise floor follows quieter frames immediately and rises only slowly, so speech (loud, bursty)
 * does not drag it up while steady background noise (fans, hum) eventually does — after which that
 * noise stops counting as speech. Cheap (one RMS per frame) and language-independent; it cannot tell
 * speech from other loud sounds, which is what the hangover/min-speech logic of the segmenter and,
 * downstream, Whisper's own no-speech handling are for.
 */
export class EnergyVad implements VadClassifier {
  readonly sampleRate: number;
  readonly frameSamples: number;
  readonly #minSpeechDb: number;
  readonly #marginDb: number;
  readonly #initialNoiseDb: number;
  readonly #risePerFrame: number;
  #noiseDb: number;

  constructor(options: EnergyVadOptions = {}) {
    this.sampleRate = options.sampleRate ?? 16_000;
    const frameMs = options.frameMs ?? 20;
    const frameSamples = (this.sampleRate * frameMs) / 1000;
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(
        `frameMs ${frameMs} is not a whole number of samples at ${this.sampleRate} Hz`,
      );
    }
    this.frameSamples = frameSamples;
    this.#minSpeechDb = options.minSpeechDb ?? -50;
    this.#marginDb = options.marginDb ?? 10;
    this.#initialNoiseDb = options.initialNoiseDb ?? -70;
    this.#risePerFrame = ((options.noiseRiseDbPerSec ?? 3) * frameMs) / 1000;
    this.#noiseDb = this.#initialNoiseDb;
  }

  /** Current noise-floor estimate in dBFS. */
  get noiseFloorDb(): number {
    return this.#noiseDb;
  }

  classify(frame: Float32Array): VadFrameDecision {
    if (frame.length !== this.frameSamples) {
      throw new RangeError(`expected a frame of ${this.frameSamples} samples, got ${frame.length}`);
    }
    const energyDb = toDbfs(rms(frame));
    const threshold = Math.max(this.#minSpeechDb, this.#noiseDb + this.#marginDb);
    const score = energyDb - threshold;
    // Update after deciding, so a sudden loud frame is judged against the floor before it.
    this.#noiseDb =
      energyDb < this.#noiseDb ? energyDb : Math.min(energyDb, this.#noiseDb + this.#risePerFrame);
    return { speech: score >= 0, score, energyDb };
  }

  reset(): void {
    this.#noiseDb = this.#initialNoiseDb;
  }
}

/** Where a clip has speech, as found by {@link findSpeech}. Times in ms from the clip start. */
export interface SpeechSpan {
  /** Start of the first utterance (pre-roll included). */
  startMs: number;
  /** End of the last utterance (tail included). */
  endMs: number;
  /** Total length of the utterances. */
  speechMs: number;
  /** Number of utterances. */
  utterances: number;
}

/**
 * Runs an {@link EnergyVad} through a {@link VadSegmenter} over a whole clip and returns the span
 * holding speech, or undefined when there is none — the gate that keeps silence away from Whisper,
 * which invents text for it.
 */
export function findSpeech(
  pcm: Float32Array,
  options: { vad?: EnergyVadOptions; segmenter?: VadSegmenterOptions } = {},
): SpeechSpan | undefined {
  const vad = new EnergyVad(options.vad);
  const segmenter = new VadSegmenter(vad, options.segmenter);
  const events = [...segmenter.push(pcm), ...segmenter.flush()];
  let span: SpeechSpan | undefined;
  for (const e of events) {
    if (e.type !== 'end') continue;
    if (!span) span = { startMs: e.startMs, endMs: e.endMs, speechMs: 0, utterances: 0 };
    span.endMs = e.endMs;
    span.speechMs += e.endMs - e.startMs;
    span.utterances++;
  }
  return span;
}
