/**
 * `tts.synthesize` as an async iterable of PCM chunks: subscribes to `tts.stream.chunk.<streamId>`,
 * sends the request, yields each audio chunk in `seq` order as it arrives, ends after the `final`
 * chunk, throws the stream's error (or a timeout), and cancels the synthesis
 * (`tts.stream.cancelled.<streamId>`) when the consumer stops early (`return()`).
 *
 * Usage:
 * ```ts
 * const stream = ttsStream(messaging, { text: 'Hello.', voice }, { firstAudioTimeoutMs: 5000 });
 * for await (const { samples, sampleRate } of stream) play(samples, sampleRate);  // Int16Array
 * stream.requestedAt;       // performance.now() when the request went out (for latency metrics)
 * ```
 */
import { randomUUID } from 'node:crypto';
import { type SpeechParams, type TtsStreamChunk, ttsContracts, ttsEvents } from '@parley/contracts';
import type { PcmChunk } from '@parley/media';
import { MessagingError, type NatsMessaging } from '@parley/messaging';

/** A first sentence longer than this is synthesised as its first clause, then the rest. */
const FIRST_CHUNK_CHARS = 16;

/** Deadlines of a {@link ttsStream}. */
export interface TtsStreamOptions {
  /** No audio by then: the stream fails with `TIMEOUT`. */
  firstAudioTimeoutMs: number;
  /** Deadline of the whole synthesis. */
  timeoutMs: number;
}

/** A synthesis stream; iterate it once. */
export interface TtsStream extends AsyncIterable<PcmChunk> {
  readonly streamId: string;
  /** performance.now() when the request was sent (undefined before iteration starts). */
  readonly requestedAt?: number;
  /** Voice that spoke (known once the reply came). */
  readonly voice?: string;
}

type Waiter = { resolve: () => void };

/** Starts `tts.synthesize` lazily, on the first `next()`. */
export function ttsStream(
  messaging: NatsMessaging,
  params: Pick<SpeechParams, 'text' | 'voice' | 'speaker' | 'lengthScale'>,
  options: TtsStreamOptions,
): TtsStream {
  const streamId = randomUUID();
  const queue: PcmChunk[] = [];
  const pending = new Map<number, TtsStreamChunk>();
  let nextSeq = 0;
  let finished = false;
  let failure: Error | undefined;
  let waiter: Waiter | undefined;
  let started = false;
  let stopped = false;
  let gotAudio = false;
  let unsubscribe: (() => void) | undefined;
  let firstTimer: NodeJS.Timeout | undefined;
  const state: { requestedAt?: number; voice?: string } = {};

  const wake = () => {
    const w = waiter;
    waiter = undefined;
    w?.resolve();
  };
  const fail = (err: Error) => {
    if (finished || failure) return;
    failure = err;
    wake();
  };
  const accept = (chunk: TtsStreamChunk) => {
    if (chunk.type === 'error') {
      fail(new MessagingError(chunk.error.code, chunk.error.message, chunk.error.retryable));
      return;
    }
    if (chunk.samples > 0) {
      gotAudio = true;
      clearTimeout(firstTimer);
      const bytes = Buffer.from(chunk.pcm, 'base64');
      const samples = new Int16Array(bytes.length >> 1);
      new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 2));
      queue.push({ samples, sampleRate: chunk.sampleRate });
    }
    if (chunk.final) finished = true;
    wake();
  };
  const onChunk = (chunk: TtsStreamChunk) => {
    if (stopped) return;
    // Chunks are published in order; put back any the transport reordered.
    pending.set(chunk.seq, chunk);
    for (let c = pending.get(nextSeq); c; c = pending.get(nextSeq)) {
      pending.delete(nextSeq);
      nextSeq++;
      accept(c);
    }
  };
  const cleanup = () => {
    clearTimeout(firstTimer);
    unsubscribe?.();
    unsubscribe = undefined;
  };
  const start = () => {
    started = true;
    unsubscribe = messaging.subscribe(ttsEvents.streamChunk, onChunk, { tokens: [streamId] });
    firstTimer = setTimeout(() => {
      if (!gotAudio) {
        fail(
          new MessagingError(
            'TIMEOUT',
            `no TTS audio within ${options.firstAudioTimeoutMs} ms`,
            true,
          ),
        );
      }
    }, options.firstAudioTimeoutMs);
    state.requestedAt = performance.now();
    messaging
      .request(
        ttsContracts.synthesize,
        {
          streamId,
          text: params.text,
          ...(params.voice ? { voice: params.voice } : {}),
          ...(params.speaker !== undefined ? { speaker: params.speaker } : {}),
          ...(params.lengthScale !== undefined ? { lengthScale: params.lengthScale } : {}),
          // Played as it arrives: a long first sentence starts with its first clause.
          firstChunkChars: FIRST_CHUNK_CHARS,
        },
        { timeoutMs: options.timeoutMs },
      )
      .then(
        (reply) => {
          state.voice = reply.voice;
          // The reply follows the final chunk; a final chunk lost in transit must not hang us.
          if (!finished && nextSeq < reply.chunks) {
            setTimeout(() => {
              if (!finished && !stopped) {
                fail(new MessagingError('INTERNAL', 'TTS stream incomplete: chunks were lost'));
              }
            }, 1000).unref();
          } else if (!finished) {
            finished = true;
            wake();
          }
        },
        (err: unknown) => fail(err instanceof Error ? err : new Error(String(err))),
      );
  };

  const iterator: AsyncIterator<PcmChunk> = {
    async next(): Promise<IteratorResult<PcmChunk>> {
      if (stopped) return { done: true, value: undefined };
      if (!started) start();
      for (;;) {
        if (stopped) return { done: true, value: undefined };
        const chunk = queue.shift();
        if (chunk) return { done: false, value: chunk };
        if (failure) {
          cleanup();
          stopped = true;
          throw failure;
        }
        if (finished) {
          cleanup();
          stopped = true;
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => (waiter = { resolve }));
      }
    },
    async return(): Promise<IteratorResult<PcmChunk>> {
      if (!stopped) {
        stopped = true;
        const cancel = started && !finished && !failure;
        cleanup();
        wake();
        if (cancel) {
          try {
            messaging.publish(
              ttsEvents.streamCancelled,
              { streamId, reason: 'playback stopped' },
              { tokens: [streamId] },
            );
          } catch {
            // NATS down: the synthesis runs to its end unheard.
          }
        }
      }
      return { done: true, value: undefined };
    },
  };
  return {
    streamId,
    get requestedAt() {
      return state.requestedAt;
    },
    get voice() {
      return state.voice;
    },
    [Symbol.asyncIterator]: () => iterator,
  };
}
