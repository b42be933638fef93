import { rms } from '@parley/audio';
import {
  STT_SAMPLE_RATE,
  type SttEngine,
  type SttPriority,
  type SttResult,
  type SttSegment,
  type SttTiming,
  type SttTranscribeOptions,
} from './SttEngine';
import { SttEngineError } from './SttEngineError';

/** Options of {@link transcribeLong}. */
export interface LongAudioOptions extends Omit<
  SttTranscribeOptions,
  'offsetMs' | 'priority' | 'onSegment' | 'audioContext' | 'preemptible'
> {
  /** Longest window, ms (whisper's encoder sees at most 30 s). Default 30000. */
  windowMs?: number;
  /**
   * Batch windows that realtime calls pre-empt are halved down to this length, ms, so that under
   * realtime traffic a window fits between two requests (and a window that may no longer be
   * pre-empted is short). A window that completes without pre-emption lets the next one double
   * again, up to `windowMs`. Default min(windowMs, 5000).
   */
  minWindowMs?: number;
  /**
   * Times realtime calls may pre-empt one window (each time it restarts, halved); after that it
   * runs to its end and realtime calls wait for it. Default 0.
   */
  maxPreemptions?: number;
  /**
   * Window ends are moved back, by at most this much, to the quietest 20 ms in that range, so cuts
   * fall between words rather than through them. 0 = fixed cuts. Default 3000.
   */
  cutSearchMs?: number;
  /** Start here instead of at 0 (resume a job from its last completed window), ms. Default 0. */
  startMs?: number;
  /** Added to all timestamps (position of `pcm` in a longer timeline), ms. Default 0. */
  offsetMs?: number;
  /** Queue class of each window. Default `batch`, so realtime calls run between windows. */
  priority?: SttPriority;
  /** Windows quieter than this RMS (default 0.001 ≈ -60 dBFS) are skipped: Whisper hallucinates on silence. */
  silenceRms?: number;
  /**
   * Decides whether a window holds speech (e.g. a VAD); windows without are skipped like silent
   * ones. Applied after the RMS check. Default: none (the RMS check only).
   */
  speechGate?: (window: Float32Array) => boolean;
}

/** A segment of the long audio, timestamps absolute (`offsetMs` + position in `pcm`). */
export interface LongAudioSegmentEvent {
  type: 'segment';
  /** Window index, from 0. */
  window: number;
  segment: SttSegment;
}

/** Emitted after each window, in order; `processedMs` only grows. */
export interface LongAudioProgressEvent {
  type: 'progress';
  window: number;
  /** Window bounds within `pcm`, ms. */
  windowStartMs: number;
  windowEndMs: number;
  /** Audio done so far (= windowEndMs), ms: the checkpoint to resume from via `startMs`. */
  processedMs: number;
  /** Length of `pcm`, ms. */
  totalMs: number;
  /** processedMs / totalMs × 100, rounded to 0.1. */
  percent: number;
  /** Whether the window was skipped as silence. */
  skipped: boolean;
  /** Times realtime calls pre-empted this window (it was shortened and restarted each time). */
  preemptions: number;
  /** The window's engine timing (absent when skipped). */
  timing?: SttTiming;
}

/** Events of {@link transcribeLong}. */
export type LongAudioEvent = LongAudioSegmentEvent | LongAudioProgressEvent;

/** Returned by the generator when it completes. */
export interface LongAudioSummary {
  windows: number;
  segments: number;
  /** Sum of the windows' native processing time, ms. */
  processMs: number;
  /** Audio covered, ms. */
  audioMs: number;
}

/**
 * Transcribes audio of any length window by window, as an async generator: for each window it
 * yields the window's segments (absolute timestamps) and then a progress event.
 *
 * Why windows rather than one whisper_full call: progress can be reported and checkpointed
 * (`processedMs` → `startMs` on redelivery); between windows the engine's lock is released, so
 * waiting realtime requests run first; with `maxPreemptions` a realtime request even aborts the
 * running window (whisper stops within about a millisecond), which restarts at half its length;
 * and a consumer can stop early by breaking out of its `for await` (or aborting `signal`, which
 * also stops the running window natively).
 */
export async function* transcribeLong(
  engine: SttEngine,
  pcm: Float32Array,
  options: LongAudioOptions = {},
): AsyncGenerator<LongAudioEvent, LongAudioSummary, undefined> {
  const {
    windowMs = 30_000,
    cutSearchMs = 3_000,
    startMs = 0,
    offsetMs = 0,
    priority = 'batch',
    silenceRms = 0.001,
    speechGate,
    maxPreemptions = 0,
    ...rest
  } = options;
  if (!(windowMs >= 1_000 && windowMs <= 30_000)) {
    throw new SttEngineError('BAD_OPTIONS', `windowMs must be in [1000, 30000], got ${windowMs}`);
  }
  const minWindowMs = options.minWindowMs ?? Math.min(windowMs, 5_000);
  if (!(minWindowMs >= 1_000 && minWindowMs <= windowMs)) {
    throw new SttEngineError(
      'BAD_OPTIONS',
      `minWindowMs must be in [1000, windowMs], got ${options.minWindowMs}`,
    );
  }
  if (!Number.isInteger(maxPreemptions) || maxPreemptions < 0) {
    throw new SttEngineError(
      'BAD_OPTIONS',
      `maxPreemptions must be an integer ≥ 0, got ${options.maxPreemptions}`,
    );
  }
  if (!(cutSearchMs >= 0 && cutSearchMs < windowMs)) {
    throw new SttEngineError(
      'BAD_OPTIONS',
      `cutSearchMs must be in [0, windowMs), got ${cutSearchMs}`,
    );
  }
  if (!(pcm instanceof Float32Array) || pcm.length === 0) {
    throw new SttEngineError('BAD_AUDIO', 'audio must be a non-empty Float32Array');
  }
  const perMs = STT_SAMPLE_RATE / 1000;
  const total = pcm.length;
  const totalMs = total / perMs;
  if (!(startMs >= 0 && startMs < totalMs)) {
    throw new SttEngineError('BAD_OPTIONS', `startMs must be in [0, ${totalMs}), got ${startMs}`);
  }

  const summary: LongAudioSummary = { windows: 0, segments: 0, processMs: 0, audioMs: 0 };
  let cursor = Math.round(startMs * perMs);
  let window = 0;
  // Current window length: halved by pre-emptions, doubled back by windows that complete unpre-empted.
  let lengthMs = windowMs;
  const preemptible = priority === 'batch' && maxPreemptions > 0;
  while (cursor < total) {
    let preemptions = 0;
    let end: number;
    let chunk: Float32Array;
    let skipped: boolean;
    let timing: SttTiming | undefined;
    let result: SttResult | undefined;
    for (;;) {
      if (rest.signal?.aborted) throw new SttEngineError('ABORTED', 'long transcription aborted');
      const search = Math.min(cutSearchMs, Math.floor(lengthMs / 4));
      end = chooseCut(pcm, cursor, lengthMs * perMs, search * perMs);
      chunk = pcm.subarray(cursor, end);
      skipped = rms(chunk) < silenceRms || (speechGate ? !speechGate(chunk) : false);
      if (skipped) break;
      try {
        result = await engine.transcribe(chunk, {
          ...rest,
          offsetMs: offsetMs + cursor / perMs,
          priority,
          singleSegment: rest.singleSegment ?? false,
          preemptible: preemptible && preemptions < maxPreemptions,
        });
        break;
      } catch (err) {
        const preempted =
          err instanceof SttEngineError && err.code === 'ABORTED' && !rest.signal?.aborted;
        if (!preempted) throw err;
        preemptions++;
        lengthMs = Math.max(minWindowMs, Math.floor(lengthMs / 2));
      }
    }
    if (result) {
      timing = { ...result.timing, preemptions };
      summary.processMs += result.timing.processMs;
      for (const segment of result.segments) {
        summary.segments++;
        yield { type: 'segment', window, segment };
      }
    }
    if (preemptions === 0) lengthMs = Math.min(windowMs, lengthMs * 2);
    summary.windows++;
    summary.audioMs += chunk.length / perMs;
    const processedMs = end / perMs;
    yield {
      type: 'progress',
      window,
      windowStartMs: cursor / perMs,
      windowEndMs: processedMs,
      processedMs,
      totalMs,
      percent: Math.round((processedMs / totalMs) * 1000) / 10,
      skipped,
      preemptions,
      ...(timing ? { timing } : {}),
    };
    cursor = end;
    window++;
  }
  return summary;
}

/**
 * End of the window starting at `start`: the end of the audio if it fits, else the start of the
 * quietest 20 ms frame in the last `search` samples of a full window.
 */
export function chooseCut(
  pcm: Float32Array,
  start: number,
  window: number,
  search: number,
): number {
  const hardEnd = start + Math.floor(window);
  if (hardEnd >= pcm.length) return pcm.length;
  if (search <= 0) return hardEnd;
  const frame = STT_SAMPLE_RATE / 50;
  let best = hardEnd;
  let bestLevel = Infinity;
  for (let at = hardEnd - frame; at >= hardEnd - search && at > start; at -= frame) {
    const level = rms(pcm, at, at + frame);
    // Strictly quieter only: on ties (e.g. digital silence) keep the later cut, i.e. longer windows.
    if (level < bestLevel) {
      bestLevel = level;
      best = at + frame / 2;
    }
  }
  return Math.max(start + 1, Math.round(best));
}
