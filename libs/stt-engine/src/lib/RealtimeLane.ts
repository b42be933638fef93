import { type SpeechSpan, findSpeech } from '@parley/audio';
import { STT_SAMPLE_RATE, type SttEngine, type SttSegment } from './SttEngine';
import { SttEngineError } from './SttEngineError';

/** One utterance (or its growing part) for the realtime lane. */
export interface RealtimeUtterance {
  /** Partials and the final of one utterance share it. */
  utteranceId: string;
  /** `partial`: speech continues; `final`: the whole utterance. */
  kind: 'partial' | 'final';
  /** Order of partials of one utterance. */
  seq?: number;
  /** 16 kHz mono Float32 PCM. */
  pcm: Float32Array;
  /** Stream time of the first sample, ms. */
  startMs: number;
  language?: string;
  prompt?: string;
  temperature?: number;
  translate?: boolean;
}

/** What the realtime lane made of an utterance. */
export interface RealtimeResult {
  /** Whether the VAD found speech (without speech nothing is transcribed). */
  speech: boolean;
  /** Set when a newer partial or the final superseded this partial before it finished. */
  skipped?: 'superseded';
  segments: SttSegment[];
  text: string;
  language: string;
  /** The audio's span on the caller's timeline, ms. */
  startMs: number;
  endMs: number;
  timing: { queuedMs: number; processMs: number; totalMs: number; audioMs: number };
}

/** Options of {@link RealtimeLane}. */
export interface RealtimeLaneOptions {
  /** Gate with the energy VAD (default true): audio without speech is not transcribed. */
  vad?: boolean;
  /**
   * Leading/trailing silence longer than this is cut before decoding (Whisper invents words in
   * long silences); shorter silence is kept so timings match the caller's clip. Default 1000 ms.
   */
  trimSilenceMs?: number;
}

interface PendingPartial {
  seq: number;
  controller: AbortController;
}

/**
 * The realtime lane of a worker: VAD gate, supersession of stale partials, and the engine call at
 * realtime priority (which pre-empts batch windows).
 *
 * Partials are best effort: when a newer partial or the final of the same utterance arrives, an
 * older partial still waiting (or running) is aborted and reported `skipped` — the caller wants
 * the newest text, and the final must not queue behind obsolete work.
 */
export class RealtimeLane {
  readonly #engine: SttEngine;
  readonly #vad: boolean;
  readonly #trimMs: number;
  readonly #partials = new Map<string, PendingPartial>();

  constructor(engine: SttEngine, options: RealtimeLaneOptions = {}) {
    this.#engine = engine;
    this.#vad = options.vad ?? true;
    this.#trimMs = options.trimSilenceMs ?? 1000;
  }

  /** Partials in flight. */
  get pendingPartials(): number {
    return this.#partials.size;
  }

  /** Transcribes one utterance. Rejects with `SttEngineError` (`BAD_AUDIO`, `UNSUPPORTED_LANGUAGE`, …). */
  async transcribe(u: RealtimeUtterance): Promise<RealtimeResult> {
    const t0 = performance.now();
    if (u.pcm.length === 0) throw new SttEngineError('BAD_AUDIO', 'audio is empty (0 samples)');
    const audioMs = (u.pcm.length * 1000) / STT_SAMPLE_RATE;
    const seq = u.seq ?? 0;
    const previous = this.#partials.get(u.utteranceId);
    if (previous && u.kind === 'partial' && previous.seq > seq) {
      // An older partial arriving after a newer one: nothing to gain from decoding it.
      return this.#skipped(u, audioMs, t0);
    }
    if (previous) {
      previous.controller.abort();
      this.#partials.delete(u.utteranceId);
    }
    let mine: PendingPartial | undefined;
    if (u.kind === 'partial') {
      mine = { seq, controller: new AbortController() };
      this.#partials.set(u.utteranceId, mine);
    }
    try {
      const span: SpeechSpan | undefined = this.#vad
        ? findSpeech(u.pcm)
        : { startMs: 0, endMs: audioMs, speechMs: audioMs, utterances: 1 };
      if (!span) {
        return {
          speech: false,
          segments: [],
          text: '',
          language: u.language ?? 'en',
          startMs: u.startMs,
          endMs: u.startMs + audioMs,
          timing: { queuedMs: 0, processMs: 0, totalMs: performance.now() - t0, audioMs },
        };
      }
      const from = span.startMs > this.#trimMs ? span.startMs : 0;
      const to = audioMs - span.endMs > this.#trimMs ? span.endMs : audioMs;
      const perMs = STT_SAMPLE_RATE / 1000;
      const clip =
        from === 0 && to === audioMs
          ? u.pcm
          : u.pcm.subarray(Math.floor(from * perMs), Math.ceil(to * perMs));
      let result;
      try {
        result = await this.#engine.transcribe(clip, {
          priority: 'realtime',
          offsetMs: u.startMs + from,
          language: u.language,
          prompt: u.prompt,
          temperature: u.temperature,
          translate: u.translate,
          signal: mine?.controller.signal,
        });
      } catch (err) {
        if (mine?.controller.signal.aborted) return this.#skipped(u, audioMs, t0);
        throw err;
      }
      return {
        speech: true,
        segments: result.segments,
        text: result.text,
        language: result.language,
        startMs: u.startMs,
        endMs: u.startMs + audioMs,
        timing: {
          queuedMs: result.timing.queuedMs,
          processMs: result.timing.processMs,
          totalMs: performance.now() - t0,
          audioMs,
        },
      };
    } finally {
      if (mine && this.#partials.get(u.utteranceId) === mine) this.#partials.delete(u.utteranceId);
    }
  }

  #skipped(u: RealtimeUtterance, audioMs: number, t0: number): RealtimeResult {
    return {
      speech: true,
      skipped: 'superseded',
      segments: [],
      text: '',
      language: u.language ?? 'en',
      startMs: u.startMs,
      endMs: u.startMs + audioMs,
      timing: { queuedMs: 0, processMs: 0, totalMs: performance.now() - t0, audioMs },
    };
  }
}
