/**
 * Test doubles of this library's unit specs (not exported from the package): an engine that
 * answers after a delay, speech-like audio the energy VAD detects, an in-memory job store.
 */
import {
  type SttEngine,
  type SttModelInfo,
  type SttResult,
  type SttTranscribeOptions,
} from './lib/SttEngine';
import { SttEngineError } from './lib/SttEngineError';
import { type JobStore, type SttJobWindow } from './lib/SttJobStore';
import type { SttJobResult, SttJobStatus } from '@parley/contracts';

const RATE = 16000;

/** Answers after `delayMs` with one segment spanning the clip; honours abort signals. */
export class FakeEngine implements SttEngine {
  readonly state = 'ready' as const;
  readonly model = undefined as SttModelInfo | undefined;
  readonly pending = 0;
  calls: Array<{ samples: number; options: SttTranscribeOptions }> = [];
  constructor(private readonly delayMs = 0) {}
  async load(): Promise<SttModelInfo> {
    throw new Error('not used');
  }
  async close(): Promise<void> {
    return undefined;
  }
  transcribe(pcm: Float32Array, options: SttTranscribeOptions = {}): Promise<SttResult> {
    this.calls.push({ samples: pcm.length, options });
    const t0 = options.offsetMs ?? 0;
    const t1 = t0 + (pcm.length * 1000) / RATE;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          resolve({
            segments: [{ t0, t1, text: `c${this.calls.length}`, tokens: 2, confidence: 0.9 }],
            text: `c${this.calls.length}`,
            language: options.language ?? 'en',
            tokens: 2,
            audioContext: 64,
            timing: {
              queuedMs: 0,
              processMs: this.delayMs,
              totalMs: this.delayMs,
              audioMs: t1 - t0,
              realtimeFactor: 0,
              preemptions: 0,
            },
          }),
        this.delayMs,
      );
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new SttEngineError('ABORTED', 'aborted'));
      });
    });
  }
}

/** `seconds` of a loud tone, optionally surrounded by silence. */
export function speechLike(seconds: number, silenceBefore = 0, silenceAfter = 0): Float32Array {
  const out = new Float32Array(Math.round((seconds + silenceBefore + silenceAfter) * RATE));
  const from = Math.round(silenceBefore * RATE);
  const to = from + Math.round(seconds * RATE);
  for (let i = from; i < to; i++)
    out[i] = 0.3 * Math.sin(i * 0.07) * (1 + 0.5 * Math.sin(i * 0.003));
  return out;
}

/** In-memory {@link JobStore} with the JetStream one's semantics (create-once results). */
export class MemoryJobStore implements JobStore {
  readonly states = new Map<string, SttJobStatus>();
  readonly windows = new Map<string, SttJobWindow[]>();
  readonly results = new Map<string, SttJobResult[]>();
  readonly audio = new Map<string, Uint8Array>();

  async getStatus(jobId: string) {
    return this.states.get(jobId);
  }
  async createStatus(status: SttJobStatus) {
    if (this.states.has(status.jobId)) return false;
    this.states.set(status.jobId, status);
    return true;
  }
  async mutateStatus(jobId: string, fn: (s: SttJobStatus) => SttJobStatus | undefined) {
    const s = this.states.get(jobId);
    if (!s) return undefined;
    const next = fn(s);
    if (!next) return s;
    this.states.set(jobId, next);
    return next;
  }
  async putWindow(jobId: string, window: SttJobWindow) {
    const list = (this.windows.get(jobId) ?? []).filter((w) => w.window !== window.window);
    list.push(window);
    this.windows.set(jobId, list);
  }
  async listWindows(jobId: string) {
    return [...(this.windows.get(jobId) ?? [])].sort((a, b) => a.window - b.window);
  }
  async createResult(result: SttJobResult) {
    const list = this.results.get(result.jobId) ?? [];
    if (list.length > 0) return false;
    this.results.set(result.jobId, [result]);
    return true;
  }
  async getResult(jobId: string) {
    return this.results.get(jobId)?.[0];
  }
  async putAudio(name: string, pcm: Uint8Array) {
    this.audio.set(name, pcm);
  }
  async getAudio(name: string) {
    return this.audio.get(name);
  }
  async deleteAudio(name: string) {
    this.audio.delete(name);
  }
}
