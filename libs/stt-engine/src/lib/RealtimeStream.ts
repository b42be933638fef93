import { EnergyVad, VadSegmenter, type VadSegmenterOptions } from '@parley/audio';
import { type RealtimeLane, type RealtimeResult } from './RealtimeLane';
import { STT_SAMPLE_RATE } from './SttEngine';
import { type SttLogger, silentSttLogger } from './SttLogger';

/** A transcript produced by a {@link RealtimeStream}. */
export interface StreamTranscript {
  /** `<streamId>-<n>`, n from 1. */
  utteranceId: string;
  final: boolean;
  /** Partials of one utterance count up from 0. */
  seq: number;
  result: RealtimeResult;
}

/** Options of a {@link RealtimeStream}. */
export interface RealtimeStreamOptions {
  /** Re-decode the growing utterance every this much stream time while speech continues. */
  partialIntervalMs: number;
  language?: string;
  prompt?: string;
  /** Segmenter tuning; `maxUtteranceMs` defaults to 20000 (the realtime lane's limit). */
  segmenter?: VadSegmenterOptions;
  /** Receives partials and finals, in order per utterance (a final is never followed by its partial). */
  onTranscript: (t: StreamTranscript) => void;
  logger?: SttLogger;
}

/**
 * A participant's audio stream on one worker: an energy VAD segments it into utterances; while one
 * is in progress the growing audio is re-decoded every `partialIntervalMs` of stream time (one
 * partial in flight at most — a slow engine gets fewer partials, not a backlog), and at the end of
 * speech the whole utterance is decoded once more as the final. Finals are decoded in order.
 */
export class RealtimeStream {
  readonly id: string;
  readonly #lane: RealtimeLane;
  readonly #options: RealtimeStreamOptions;
  readonly #segmenter: VadSegmenter;
  readonly #logger: SttLogger;
  #utterance = 0;
  #utteranceStartMs = 0;
  #partialSeq = 0;
  #lastPartialAtMs = 0;
  /** Stream time of the last speech frame: no partial re-decodes audio with nothing new in it. */
  #lastSpeechMs = -1;
  #partialInFlight = false;
  #finals: Promise<void> = Promise.resolve();
  /** Highest utterance number whose final has started: its partials are dropped from then on. */
  #finalStarted = 0;
  #finishedUtterances = 0;
  #closed = false;
  #lastActivity = Date.now();

  constructor(id: string, lane: RealtimeLane, options: RealtimeStreamOptions) {
    this.id = id;
    this.#lane = lane;
    this.#options = options;
    this.#logger = options.logger ?? silentSttLogger;
    const onFrame = options.segmenter?.onFrame;
    this.#segmenter = new VadSegmenter(new EnergyVad(), {
      maxUtteranceMs: 20_000,
      ...options.segmenter,
      onFrame: (d) => {
        if (d.speech) this.#lastSpeechMs = d.startMs;
        onFrame?.(d);
      },
    });
  }

  /** Stream time received so far, ms. */
  get positionMs(): number {
    return this.#segmenter.positionMs;
  }

  /** Whether an utterance is in progress. */
  get inUtterance(): boolean {
    return this.#segmenter.inUtterance;
  }

  /** Utterances whose final has been produced. */
  get utterances(): number {
    return this.#finishedUtterances;
  }

  /** Wall-clock time of the last push, ms since the epoch. */
  get lastActivity(): number {
    return this.#lastActivity;
  }

  /** Feeds the next audio (16 kHz mono Float32). */
  push(pcm: Float32Array): void {
    if (this.#closed) return;
    this.#lastActivity = Date.now();
    for (const e of this.#segmenter.push(pcm)) {
      if (e.type === 'start') {
        this.#utterance++;
        this.#utteranceStartMs = e.startMs;
        this.#partialSeq = 0;
        this.#lastPartialAtMs = e.startMs;
      } else {
        this.#final(e.audio, e.startMs);
      }
    }
    if (
      this.#segmenter.inUtterance &&
      !this.#partialInFlight &&
      this.#lastSpeechMs >= this.#lastPartialAtMs &&
      this.positionMs - this.#lastPartialAtMs >= this.#options.partialIntervalMs
    ) {
      this.#lastPartialAtMs = this.positionMs;
      const audio = this.#segmenter.currentAudio();
      if (audio && audio.length > 0) this.#partial(audio);
    }
  }

  /** Ends the stream: an utterance in progress is finalised; resolves when every final is out. */
  async close(): Promise<void> {
    if (!this.#closed) {
      for (const e of this.#segmenter.flush()) {
        if (e.type === 'end') this.#final(e.audio, e.startMs);
      }
      this.#closed = true;
    }
    await this.#finals;
  }

  #id(): string {
    return `${this.id}-${this.#utterance}`;
  }

  #partial(audio: Float32Array): void {
    const utteranceId = this.#id();
    const n = this.#utterance;
    const seq = this.#partialSeq++;
    this.#partialInFlight = true;
    void this.#lane
      .transcribe({
        utteranceId,
        kind: 'partial',
        seq,
        pcm: audio,
        startMs: this.#utteranceStartMs,
        language: this.#options.language,
        prompt: this.#options.prompt,
      })
      .then(
        (result) => {
          if (result.skipped || !result.speech || n <= this.#finalStarted) return;
          this.#emit({ utteranceId, final: false, seq, result });
        },
        (err: unknown) =>
          this.#logger.warn('partial() | partial transcription failed', {
            stream: this.id,
            err: (err as Error).message,
          }),
      )
      .finally(() => {
        this.#partialInFlight = false;
      });
  }

  #final(audio: Float32Array, startMs: number): void {
    const utteranceId = this.#id();
    const seq = this.#partialSeq;
    // Stop partials of this utterance at once (the final supersedes them in the lane too).
    this.#finalStarted = this.#utterance;
    const run = async () => {
      try {
        const result = await this.#lane.transcribe({
          utteranceId,
          kind: 'final',
          seq,
          pcm: audio,
          startMs,
          language: this.#options.language,
          prompt: this.#options.prompt,
        });
        this.#finishedUtterances++;
        if (result.speech) this.#emit({ utteranceId, final: true, seq, result });
      } catch (err) {
        this.#logger.warn('final() | final transcription failed', {
          stream: this.id,
          utteranceId,
          err: (err as Error).message,
        });
      }
    };
    this.#finals = this.#finals.then(run);
  }

  #emit(t: StreamTranscript): void {
    try {
      this.#options.onTranscript(t);
    } catch (err) {
      this.#logger.error('emit() | transcript listener threw', { err: String(err) });
    }
  }
}

/** Milliseconds of `samples` at the STT rate. */
export function pcmMs(samples: { length: number }): number {
  return (samples.length * 1000) / STT_SAMPLE_RATE;
}
