import { z } from 'zod';
import { binaryFrameCodec, isBytes } from './binary-frame';
import { defineEvent, defineRequest } from './contract';
import { ErrorBody } from './errors';
import { registerContracts } from './registry';

/**
 * The STT service's API over NATS, and its HTTP DTOs.
 *
 * - **Workers** (`stt-worker`) announce themselves and heartbeat on `stt.worker.heartbeat`
 *   (readiness, device, model, threads, languages, synthetic flag); `stt.worker.discover` asks every
 *   worker to announce itself at once.
 * - **Realtime lane**, served by workers in the `stt-worker` queue group: `stt.realtime.transcribe`
 *   takes one utterance (16 kHz mono s16le PCM) — partial windows while speech continues,
 *   then the final — or `stt.stream.*` takes a participant's audio stream and does the segmenting
 *   (VAD), the interval partials and the finals itself. Transcripts fan out on
 *   `stt.transcript.partial.<roomId>` / `stt.transcript.finalized.<roomId>`. Realtime work pre-empts
 *   batch work on a worker. Requests carrying audio (`stt.realtime.transcribe`, `stt.stream.audio`,
 *   and `stt.job.submit` with a whole file) travel as binary frames ({@link sttAudioFrame},
 *   {@link sttFileFrame}): the bytes as they are after a JSON header of the other fields, not
 *   base64 in JSON.
 * - **Batch jobs**, served by the `stt` orchestrator: `stt.job.submit|get|cancel`; a job's audio is
 *   stored in a JetStream object store, the job goes on the `STT_JOBS` work-queue stream and its
 *   state and result into JetStream KV; progress and segments fan out on `stt.job.*.<jobId>`.
 */

/**
 * Error codes of STT replies (HTTP `{code,message}` bodies and NATS error envelopes), besides the
 * common ones (`BAD_REQUEST` for a payload failing its schema, `NOT_FOUND`, `CONFLICT`,
 * `PAYLOAD_TOO_LARGE`, `TIMEOUT`, `NO_RESPONDERS`):
 *
 * - `BAD_AUDIO`: not audio, or a corrupt/truncated file that cannot be decoded.
 * - `EMPTY_AUDIO`: the audio decodes to zero samples.
 * - `AUDIO_TOO_LONG`: longer than the service accepts (upload limit or the realtime lane's 20 s).
 * - `UNSUPPORTED_LANGUAGE`: an unknown language code, or one the loaded model cannot transcribe.
 * - `BAD_OPTIONS`: an option out of range (temperature, thread count, …).
 * - `NO_WORKER`: no worker has its model loaded (retryable).
 * - `NOT_LOADED` / `CLOSED`: the worker reached has no model (loading, swapping) or is stopping
 *   (retryable).
 * - `TRANSCRIBE_FAILED`: whisper.cpp failed on this audio (retryable).
 * - `ABORTED`: the work was cancelled.
 * - `STREAM_NOT_FOUND`: no open realtime stream with that id on that worker (it expired or the
 *   worker restarted): open a new one.
 * - `MODEL_NOT_FOUND` / `MODEL_INVALID` / `MODEL_LOAD_FAILED` / `MODEL_FORBIDDEN`: `POST /load`
 *   with a missing file, a file that is not a whisper ggml model, one whisper.cpp rejects, or a path
 *   outside the directories the workers may load from.
 * - `WORKER_LOST`: a job's every delivery ended with its worker dying or hanging.
 * - `AUDIO_MISSING`: a job's stored audio is gone (expired or deleted).
 * - `DECODER_UNAVAILABLE`: ffmpeg is missing on the orchestrator (retryable elsewhere).
 * - `ENGINE_UNAVAILABLE`: the whisper addon does not load on a worker.
 * - `INTERNAL`: anything else.
 */
export const STT_REPLY_CODES = [
  'BAD_AUDIO',
  'EMPTY_AUDIO',
  'AUDIO_TOO_LONG',
  'UNSUPPORTED_LANGUAGE',
  'BAD_OPTIONS',
  'NO_WORKER',
  'NOT_LOADED',
  'CLOSED',
  'TRANSCRIBE_FAILED',
  'ABORTED',
  'STREAM_NOT_FOUND',
  'MODEL_NOT_FOUND',
  'MODEL_INVALID',
  'MODEL_LOAD_FAILED',
  'MODEL_FORBIDDEN',
  'WORKER_LOST',
  'AUDIO_MISSING',
  'DECODER_UNAVAILABLE',
  'ENGINE_UNAVAILABLE',
  'INTERNAL',
] as const;
/** Error code of an STT reply. */
export type SttReplyCode = (typeof STT_REPLY_CODES)[number];

/** HTTP status of each STT error code. */
export const STT_HTTP_STATUS: Record<SttReplyCode, number> = {
  BAD_AUDIO: 400,
  EMPTY_AUDIO: 400,
  AUDIO_TOO_LONG: 413,
  UNSUPPORTED_LANGUAGE: 400,
  BAD_OPTIONS: 400,
  NO_WORKER: 503,
  NOT_LOADED: 503,
  CLOSED: 503,
  TRANSCRIBE_FAILED: 503,
  ABORTED: 409,
  STREAM_NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  MODEL_INVALID: 400,
  MODEL_LOAD_FAILED: 500,
  MODEL_FORBIDDEN: 403,
  WORKER_LOST: 500,
  AUDIO_MISSING: 500,
  DECODER_UNAVAILABLE: 503,
  ENGINE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** Sample rate of all PCM on the STT API: 16 kHz mono signed 16-bit little-endian. */
export const STT_SAMPLE_RATE_HZ = 16_000;
/** Bytes of s16le PCM per millisecond at 16 kHz. */
const PCM_BYTES_PER_MS = 32;
/**
 * Longest utterance on the realtime lane. 20 s of PCM is 640 kB: it fits NATS's default 1 MB max
 * payload with room for the rest of the message; 30 s as base64 (the former encoding) would not.
 */
export const STT_REALTIME_MAX_AUDIO_MS = 20_000;
/** Longest chunk of a realtime stream message. */
export const STT_STREAM_MAX_CHUNK_MS = 5_000;
/**
 * Largest audio file in a NATS job submission, bytes: it travels raw (binary frame) and must fit
 * NATS's default 1 MB max payload with its header and trace headers (bigger files: HTTP upload).
 */
export const STT_JOB_NATS_MAX_BYTES = 960_000;

/**
 * Raw 16 kHz mono s16le PCM bytes (a `Uint8Array`; a Node `Buffer` is one) of at most `maxMs`:
 * whole 16-bit samples, so an even number of bytes.
 */
function pcmBytes(maxMs: number) {
  return z
    .custom<Uint8Array>(isBytes, 'audio must be bytes (16 kHz mono s16le PCM, a Uint8Array)')
    .refine((b) => b.length <= maxMs * PCM_BYTES_PER_MS, `audio is longer than ${maxMs} ms`)
    .refine(
      (b) => b.length % 2 === 0,
      'audio must be whole 16-bit samples (an even number of bytes)',
    );
}

/**
 * Wire format of the STT requests that carry audio: a binary frame of a JSON header (every field
 * but `audio`) followed by the raw PCM bytes of `audio`. A malformed frame is answered
 * `BAD_REQUEST` with what is wrong.
 */
export const sttAudioFrame = binaryFrameCodec('audio', { describe: '16 kHz mono s16le PCM' });

/** Wire format of `stt.job.submit`: a JSON header, then the audio file's bytes as they are. */
export const sttFileFrame = binaryFrameCodec('audio', {
  describe: 'an audio file: WAV, MP3, Ogg/Opus, FLAC, WebM',
});

/** Subject-token-safe id (utterances, streams, jobs, workers). */
export const SttToken = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'ids are 1-128 of [A-Za-z0-9_-]');
/** A job id (also its `Nats-Msg-Id` and KV key prefix). */
export const SttJobId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'job ids are 1-64 of [A-Za-z0-9_-]');
/** Room id, as the SFU uses it. */
const SttRoomId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'room ids are 1-128 of [A-Za-z0-9_-]');
/** Participant (speaker) id. */
const SttParticipantId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'participant ids are 1-128 of [A-Za-z0-9_-]');
/**
 * Whisper language code (`en`, `de`, `haw`, `yue`, …) or `auto`. The shape is checked here; whether
 * whisper (and the loaded model) knows it is checked by the service (`UNSUPPORTED_LANGUAGE`).
 */
export const SttLanguageCode = z
  .string()
  .regex(/^(auto|[A-Za-z]{2,3})$/, 'language is a whisper language code such as "en", or "auto"');
/** Inference device of a worker. */
export const SttDevice = z.enum(['cpu', 'cuda', 'vulkan']);

/** One transcribed span; times in ms on the caller's timeline. */
export const SttSegment = z.object({
  /** Start, ms. */
  t0: z.number().int().nonnegative(),
  /** End, ms (≥ t0). */
  t1: z.number().int().nonnegative(),
  /** Text, trimmed. */
  text: z.string(),
  /** Decoded tokens. */
  tokens: z.number().int().nonnegative().optional(),
  /** Mean token probability in [0, 1] (whisper's estimate). */
  confidence: z.number().min(0).max(1).optional(),
});
/** One transcribed span. */
export type SttSegment = z.infer<typeof SttSegment>;

/** Where the time of one engine call went. */
export const SttTiming = z.object({
  /** Waiting for the engine (other calls running), ms. */
  queuedMs: z.number().nonnegative(),
  /** whisper.cpp processing, ms. */
  processMs: z.number().nonnegative(),
  /** Receipt to reply on the worker, ms. */
  totalMs: z.number().nonnegative(),
  /** Audio length, ms. */
  audioMs: z.number().nonnegative(),
});

// ---------------------------------------------------------------------------------------------
// Workers

/** Lifecycle of a worker: `loading` its model → `ready`; `failed` to load; `stopping`. */
export const SttWorkerState = z.enum(['loading', 'ready', 'failed', 'stopping']);
/** The model a worker has loaded. */
export const SttWorkerModel = z.object({
  /** File name, e.g. `ggml-base.en.bin`. */
  name: z.string(),
  /** Whisper size by encoder depth. */
  type: z.string(),
  multilingual: z.boolean(),
  /** Parley's synthetic random-weights fixture: transcripts are meaningless. */
  synthetic: z.boolean(),
  sizeBytes: z.number().int().nonnegative(),
  loadMs: z.number().nonnegative(),
});
/** A loaded model as reported by a worker. */
export type SttWorkerModel = z.infer<typeof SttWorkerModel>;

/** What a worker announces about itself, on start, on every state change and periodically. */
export const SttWorkerHeartbeat = z.object({
  /** Unique id of the worker process (its node id); directed subjects end with it. */
  workerId: SttToken,
  version: z.string(),
  state: SttWorkerState,
  /** Why it is not ready (loading, load error), or a warning (synthetic model). */
  reason: z.string().max(1000).optional(),
  /** Configured device; `gpu` tells whether a GPU backend was requested from whisper.cpp. */
  device: SttDevice,
  gpu: z.boolean(),
  model: SttWorkerModel.optional(),
  /** whisper.cpp threads of each call. */
  threads: z.number().int().positive(),
  /** Language codes the loaded model transcribes (`en` only for `*.en` models). */
  languages: z.array(z.string()).max(128),
  lanes: z.object({
    realtime: z.object({
      /** Serving the realtime lane (model loaded). */
      enabled: z.boolean(),
      /** Engine calls waiting now. */
      pending: z.number().int().nonnegative(),
      /** Open realtime streams. */
      streams: z.number().int().nonnegative(),
    }),
    batch: z.object({
      /** Pulling batch jobs. */
      enabled: z.boolean(),
      /** The job in hand, if any. */
      jobId: SttJobId.optional(),
    }),
  }),
  /** Interval of heartbeats; a worker silent for 3 intervals is gone. */
  heartbeatMs: z.number().int().positive(),
  /** Sender's clock, ms since the epoch. */
  sentAt: z.number(),
});
/** A worker's announcement / heartbeat. */
export type SttWorkerHeartbeat = z.infer<typeof SttWorkerHeartbeat>;

export const SttWorkerDiscover = z.object({ requestedBy: z.string().max(128) });

/** `POST /load` relayed to one worker: load this model file instead of the current one. */
export const SttModelLoadRequest = z.object({ model: z.string().min(1).max(4096) }).strict();

// ---------------------------------------------------------------------------------------------
// Realtime lane

/** One utterance (or the growing part of one) for the realtime lane. */
export const SttUtteranceRequest = z
  .object({
    /** Id of the utterance; partials and the final of one utterance share it. */
    utteranceId: SttToken,
    /** Room whose transcript subjects get the result; none = reply only. */
    roomId: SttRoomId.optional(),
    /** Speaker. */
    participantId: SttParticipantId.optional(),
    /**
     * `partial`: the utterance so far, speech continues (a newer partial or the final of the same
     * utterance supersedes a partial still waiting on the worker); `final`: the whole utterance.
     */
    kind: z.enum(['partial', 'final']),
    /** Order of partials of one utterance. */
    seq: z.number().int().nonnegative().optional(),
    /** Stream time of the first sample, ms: segment times are on this timeline. */
    startMs: z.number().nonnegative().default(0),
    /** 16 kHz mono s16le PCM bytes, at most 20 s (raw bytes on the wire: {@link sttAudioFrame}). */
    audio: pcmBytes(STT_REALTIME_MAX_AUDIO_MS),
    /** Language code; default `en`. */
    language: SttLanguageCode.optional(),
    /** Decoder prompt (vocabulary, previous sentence). */
    prompt: z.string().max(1000).optional(),
    /** Sampling temperature (0 = greedy). */
    temperature: z.number().min(0).max(1).optional(),
    /** Translate to English instead of transcribing. */
    translate: z.boolean().optional(),
  })
  .strict();
/** A realtime-lane utterance request. */
export type SttUtteranceRequest = z.input<typeof SttUtteranceRequest>;

/** Result of one realtime-lane request. */
export const SttUtteranceResponse = z.object({
  utteranceId: SttToken,
  kind: z.enum(['partial', 'final']),
  roomId: SttRoomId.optional(),
  participantId: SttParticipantId.optional(),
  /** Whether the VAD found speech; without speech nothing is transcribed (no invented text). */
  speech: z.boolean(),
  /** Set when a partial was dropped because a newer partial or the final superseded it. */
  skipped: z.literal('superseded').optional(),
  text: z.string(),
  segments: z.array(SttSegment),
  language: z.string(),
  /** The audio's span on the caller's timeline, ms. */
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  workerId: z.string(),
  timing: SttTiming,
});
/** Result of one realtime-lane request. */
export type SttUtteranceResponse = z.infer<typeof SttUtteranceResponse>;

/** A transcript of a room's speech: partials while a participant speaks, then one final. */
export const SttTranscriptEvent = z.object({
  roomId: SttRoomId,
  /** Speaker. */
  participantId: SttParticipantId.optional(),
  utteranceId: SttToken,
  final: z.boolean(),
  seq: z.number().int().nonnegative().optional(),
  text: z.string(),
  segments: z.array(SttSegment),
  language: z.string(),
  startMs: z.number().nonnegative(),
  endMs: z.number().nonnegative(),
  workerId: z.string(),
  /** Wall clock of the transcription, ms since the epoch. */
  createdAt: z.number(),
});
/** A transcript event. */
export type SttTranscriptEvent = z.infer<typeof SttTranscriptEvent>;

/** Opens a realtime stream: the worker segments it (VAD), sends interval partials and finals. */
export const SttStreamOpenRequest = z
  .object({
    /** Caller-chosen id (default: generated). */
    streamId: SttToken.optional(),
    roomId: SttRoomId.optional(),
    participantId: SttParticipantId.optional(),
    language: SttLanguageCode.optional(),
    prompt: z.string().max(1000).optional(),
    /** Re-decode the growing utterance this often while speech continues (default: worker's). */
    partialIntervalMs: z.number().int().min(100).max(10_000).optional(),
  })
  .strict();
export const SttStreamOpenResponse = z.object({ streamId: SttToken, workerId: SttToken });
/** Next chunk of a stream's audio (in order: `seq` 0, 1, 2, …). */
export const SttStreamAudioRequest = z
  .object({
    streamId: SttToken,
    seq: z.number().int().nonnegative(),
    /** 16 kHz mono s16le PCM bytes, at most 5 s (raw bytes on the wire: {@link sttAudioFrame}). */
    audio: pcmBytes(STT_STREAM_MAX_CHUNK_MS),
  })
  .strict();
export const SttStreamAudioResponse = z.object({
  streamId: SttToken,
  /** Stream time received so far, ms. */
  positionMs: z.number().nonnegative(),
  /** Whether an utterance is in progress. */
  inUtterance: z.boolean(),
  /** Utterances finalised so far. */
  utterances: z.number().int().nonnegative(),
  /** Chunks that arrived out of order and were dropped. */
  dropped: z.number().int().nonnegative(),
});
export const SttStreamCloseRequest = z.object({ streamId: SttToken }).strict();
export const SttStreamCloseResponse = z.object({
  streamId: SttToken,
  positionMs: z.number().nonnegative(),
  utterances: z.number().int().nonnegative(),
});

// ---------------------------------------------------------------------------------------------
// Batch jobs

/** Output formats of a finished transcription (whisper.cpp server's `response_format`). */
export const SttResponseFormat = z.enum(['json', 'text', 'srt', 'vtt', 'verbose_json']);
export type SttResponseFormat = z.infer<typeof SttResponseFormat>;

/** Transcription options of a job. */
export const SttJobOptions = z
  .object({
    language: SttLanguageCode.optional(),
    prompt: z.string().max(1000).optional(),
    translate: z.boolean().optional(),
    temperature: z.number().min(0).max(1).optional(),
  })
  .strict();
export type SttJobOptions = z.infer<typeof SttJobOptions>;

/** `queued` → `running` → `completed` | `failed`; `cancelled` from either of the first two. */
export const SttJobState = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled']);
export type SttJobState = z.infer<typeof SttJobState>;

/** A job's state as stored in KV and returned by `GET /v1/jobs/:id` and `stt.job.get`. */
export const SttJobStatus = z.object({
  jobId: SttJobId,
  state: SttJobState,
  /** Audio processed / total, in percent (0.1 steps). */
  progress: z.number().min(0).max(100),
  processedMs: z.number().nonnegative(),
  /** Length of the decoded audio, ms. */
  durationMs: z.number().nonnegative(),
  options: SttJobOptions,
  /** Deliveries so far (a redelivery follows a worker that died or failed retryably). */
  attempts: z.number().int().nonnegative(),
  /** Worker of the current/last attempt. */
  workerId: z.string().optional(),
  filename: z.string().max(512).optional(),
  sizeBytes: z.number().int().nonnegative().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  /** Why the job failed (or the last retryable error). */
  error: ErrorBody.optional(),
});
export type SttJobStatus = z.infer<typeof SttJobStatus>;

/** A segment of a job result (numbered, times in ms from the start of the file). */
export const SttJobSegment = SttSegment.extend({ id: z.number().int().nonnegative() });
export type SttJobSegment = z.infer<typeof SttJobSegment>;

/** The stored result of a completed job (one per job id). */
export const SttJobResult = z.object({
  jobId: SttJobId,
  text: z.string(),
  language: z.string(),
  translate: z.boolean(),
  durationMs: z.number().nonnegative(),
  segments: z.array(SttJobSegment),
  workerId: z.string(),
  /** whisper.cpp time over all windows (and attempts' completed windows), ms. */
  processMs: z.number().nonnegative(),
  model: z.object({ name: z.string(), synthetic: z.boolean() }),
  completedAt: z.string(),
});
export type SttJobResult = z.infer<typeof SttJobResult>;

/** What goes on the work queue (the audio itself is in the object store). */
export const SttJobMessage = z.object({
  jobId: SttJobId,
  /** Object-store name of the decoded audio (16 kHz mono s16le). */
  audioObject: z.string().min(1).max(256),
  durationMs: z.number().nonnegative(),
  options: SttJobOptions,
  createdAt: z.string(),
});
export type SttJobMessage = z.infer<typeof SttJobMessage>;

/** Submit a job over NATS: an encoded audio file (any format the HTTP upload takes), base64. */
export const SttJobSubmitRequest = z
  .object({
    /** Caller-chosen id: submitting the same id again returns the existing job (idempotent). */
    jobId: SttJobId.optional(),
    /** The audio file's bytes (raw bytes on the wire: {@link sttFileFrame}). */
    audio: z
      .custom<Uint8Array>(isBytes, 'audio must be the bytes of an audio file (a Uint8Array)')
      .refine(
        (b) => b.length <= STT_JOB_NATS_MAX_BYTES,
        `audio is over ${STT_JOB_NATS_MAX_BYTES} bytes, too large for NATS; upload it over HTTP`,
      ),
    filename: z.string().max(512).optional(),
    options: SttJobOptions.optional(),
  })
  .strict();
export const SttJobGetRequest = z
  .object({ jobId: SttJobId, includeResult: z.boolean().optional() })
  .strict();
export const SttJobGetResponse = z.object({ job: SttJobStatus, result: SttJobResult.optional() });
export const SttJobCancelRequest = z.object({ jobId: SttJobId }).strict();

export const SttJobProgressEvent = z.object({
  jobId: SttJobId,
  progress: z.number().min(0).max(100),
  processedMs: z.number().nonnegative(),
  durationMs: z.number().nonnegative(),
  /** Window just finished (from 0). */
  window: z.number().int().nonnegative(),
  attempt: z.number().int().positive(),
  workerId: z.string(),
});
export type SttJobProgressEvent = z.infer<typeof SttJobProgressEvent>;
export const SttJobSegmentEvent = z.object({
  jobId: SttJobId,
  window: z.number().int().nonnegative(),
  segment: SttJobSegment,
});
export type SttJobSegmentEvent = z.infer<typeof SttJobSegmentEvent>;
export const SttJobCompletedEvent = z.object({
  jobId: SttJobId,
  durationMs: z.number().nonnegative(),
  segments: z.number().int().nonnegative(),
  processMs: z.number().nonnegative(),
  workerId: z.string(),
  attempts: z.number().int().nonnegative(),
});
export type SttJobCompletedEvent = z.infer<typeof SttJobCompletedEvent>;
export const SttJobFailedEvent = z.object({
  jobId: SttJobId,
  error: ErrorBody,
  attempts: z.number().int().nonnegative(),
});
export type SttJobFailedEvent = z.infer<typeof SttJobFailedEvent>;
export const SttJobCancelledEvent = z.object({ jobId: SttJobId });

/**
 * One server-sent event of `GET /v1/jobs/:id/events` (the SSE `event:` field is `type`): first the
 * current `state`, then `segment`s and `progress` in order (progress only grows), and one terminal
 * event — `completed`, `failed` or `cancelled` — after which the stream ends.
 */
export type SttJobStreamEvent =
  | { type: 'state'; data: SttJobStatus }
  | { type: 'progress'; data: { progress: number; processedMs: number; durationMs: number } }
  | { type: 'segment'; data: SttJobSegment }
  | { type: 'completed'; data: SttJobStatus }
  | { type: 'failed'; data: SttJobStatus }
  | { type: 'cancelled'; data: SttJobStatus };

/** JetStream resources of the batch lane. */
export const STT_JETSTREAM = {
  /** Work-queue stream of jobs (file storage). */
  stream: 'STT_JOBS',
  /** Subject of job messages (`Nats-Msg-Id` = job id). */
  subject: 'stt.jobs.queued',
  /** Durable pull consumer shared by all workers. */
  consumer: 'stt-worker',
  /** KV bucket: `<jobId>.state`, `<jobId>.w.<window>` (checkpoints), `<jobId>.result`. */
  kvBucket: 'stt-jobs',
  /** Object store of decoded job audio. */
  objectBucket: 'stt-audio',
  /** Advisory published when a job's deliveries are exhausted without an ack or term. */
  maxDeliveriesAdvisory: '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.STT_JOBS.stt-worker',
} as const;

// ---------------------------------------------------------------------------------------------
// Contracts

/** Requests of the STT service. */
export const sttContracts = {
  realtimeTranscribe: defineRequest({
    subject: 'stt.realtime.transcribe',
    request: SttUtteranceRequest,
    response: SttUtteranceResponse,
    timeoutMs: 15_000,
    requestCodec: sttAudioFrame,
    description:
      'Transcribe one utterance (partial or final) on the realtime lane; served by any worker (queue group stt-worker). Binary frame: JSON header + raw PCM.',
  }),
  streamOpen: defineRequest({
    subject: 'stt.stream.open',
    request: SttStreamOpenRequest,
    response: SttStreamOpenResponse,
    timeoutMs: 5_000,
    description:
      'Open a realtime stream on any worker; later stream requests are directed at that worker (.<workerId>).',
  }),
  streamAudio: defineRequest({
    subject: 'stt.stream.audio',
    request: SttStreamAudioRequest,
    response: SttStreamAudioResponse,
    timeoutMs: 5_000,
    requestCodec: sttAudioFrame,
    description:
      'Next chunk of a realtime stream (.<workerId>). Binary frame: JSON header + raw PCM.',
  }),
  streamClose: defineRequest({
    subject: 'stt.stream.close',
    request: SttStreamCloseRequest,
    response: SttStreamCloseResponse,
    timeoutMs: 15_000,
    description:
      'Close a realtime stream; an utterance in progress is finalised first (.<workerId>).',
  }),
  modelLoad: defineRequest({
    subject: 'stt.model.load',
    request: SttModelLoadRequest,
    response: SttWorkerModel,
    timeoutMs: 60_000,
    description: 'Load another model on one worker (.<workerId>); whisper.cpp server’s POST /load.',
  }),
  jobSubmit: defineRequest({
    subject: 'stt.job.submit',
    request: SttJobSubmitRequest,
    response: SttJobStatus,
    timeoutMs: 30_000,
    description: 'Submit a batch transcription job. Binary frame: JSON header + the audio file.',
    requestCodec: sttFileFrame,
  }),
  jobGet: defineRequest({
    subject: 'stt.job.get',
    request: SttJobGetRequest,
    response: SttJobGetResponse,
    timeoutMs: 5_000,
    description: 'State, progress and (optionally) result of a job.',
  }),
  jobCancel: defineRequest({
    subject: 'stt.job.cancel',
    request: SttJobCancelRequest,
    response: SttJobStatus,
    timeoutMs: 5_000,
    description: 'Cancel a queued or running job.',
  }),
} as const;

/** Events of the STT service. */
export const sttEvents = {
  workerHeartbeat: defineEvent({
    subject: 'stt.worker.heartbeat',
    payload: SttWorkerHeartbeat,
    description: 'A worker announces itself: on start, on state changes and every heartbeatMs.',
  }),
  workerDiscover: defineEvent({
    subject: 'stt.worker.discover',
    payload: SttWorkerDiscover,
    description: 'Asks every worker to announce itself now.',
  }),
  transcriptPartial: defineEvent({
    subject: 'stt.transcript.partial',
    payload: SttTranscriptEvent,
    description: 'A partial transcript while a participant speaks (.<roomId>).',
  }),
  transcriptFinalized: defineEvent({
    subject: 'stt.transcript.finalized',
    payload: SttTranscriptEvent,
    description: 'The final transcript of an utterance (.<roomId>).',
  }),
  jobProgress: defineEvent({
    subject: 'stt.job.progress',
    payload: SttJobProgressEvent,
    description: 'A job finished a window (.<jobId>).',
  }),
  jobSegment: defineEvent({
    subject: 'stt.job.segment',
    payload: SttJobSegmentEvent,
    description: 'A transcribed segment of a job (.<jobId>).',
  }),
  jobCompleted: defineEvent({
    subject: 'stt.job.completed',
    payload: SttJobCompletedEvent,
    description: 'A job completed; its result is stored (.<jobId>).',
  }),
  jobFailed: defineEvent({
    subject: 'stt.job.failed',
    payload: SttJobFailedEvent,
    description: 'A job failed for good (.<jobId>).',
  }),
  jobCancelled: defineEvent({
    subject: 'stt.job.cancelled',
    payload: SttJobCancelledEvent,
    description: 'A job was cancelled; the worker running it stops (.<jobId>).',
  }),
} as const;

registerContracts(...Object.values(sttContracts), ...Object.values(sttEvents));
