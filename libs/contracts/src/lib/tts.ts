import { z } from 'zod';
import { defineEvent, defineRequest } from './contract';
import { ErrorBody } from './errors';
import { registerContracts } from './registry';

/**
 * The TTS service's API: the Parley HTTP DTOs (`POST /v1/speech`, `GET /v1/voices`) and the NATS
 * contracts. Over NATS, `tts.synthesize` streams audio: the caller picks a `streamId`, subscribes
 * to `tts.stream.chunk.<streamId>`, then sends the request. The service publishes numbered chunks
 * (`seq` 0, 1, 2, … with base64 16-bit PCM) there, the last one with `final: true`, and replies with
 * a summary once the last chunk is out. A stream that fails mid-way ends with an `error` message
 * instead of a `final` chunk (and the reply is the error), so partial audio never looks complete.
 * Publishing `tts.stream.cancelled.<streamId>` stops the synthesis. With a `roomId` the service
 * also announces `tts.speech.started.<roomId>` / `tts.speech.ended.<roomId>`.
 */

/**
 * Error codes of TTS replies (HTTP `{code,message}` bodies and NATS error envelopes), besides
 * the messaging layer's own (`BAD_REQUEST` for a payload failing its schema, `TIMEOUT`, ...):
 *
 * - `EMPTY_TEXT`: nothing to say.
 * - `TEXT_TOO_LONG`: more characters than the service accepts (`TTS_MAX_CHARS`).
 * - `UNSPEAKABLE_TEXT`: characters the voice cannot speak (emoji, other scripts).
 * - `UNKNOWN_VOICE` / `UNKNOWN_SPEAKER`: no such voice, or no such speaker in the voice.
 * - `INVALID_OPTION`: a parameter out of range (e.g. `lengthScale` 0).
 * - `UNSUPPORTED_FORMAT`: an output format this node cannot produce (Opus without ffmpeg).
 * - `BAD_VOICE_CONFIG` / `BAD_VOICE_MODEL`: the voice's files are broken.
 * - `PHONEMIZER_FAILED` / `ENGINE_FAILED`: espeak-ng or onnxruntime failed (retryable).
 * - `BUSY`: too many requests queued for the voice (retryable).
 * - `ABORTED`: the request was cancelled; its audio is incomplete.
 * - `CLOSED`: the service is shutting down (retryable elsewhere).
 */
export const TTS_REPLY_CODES = [
  'EMPTY_TEXT',
  'TEXT_TOO_LONG',
  'UNSPEAKABLE_TEXT',
  'UNKNOWN_VOICE',
  'UNKNOWN_SPEAKER',
  'INVALID_OPTION',
  'UNSUPPORTED_FORMAT',
  'BAD_VOICE_CONFIG',
  'BAD_VOICE_MODEL',
  'PHONEMIZER_FAILED',
  'ENGINE_FAILED',
  'BUSY',
  'ABORTED',
  'CLOSED',
] as const;
/** Error code of a TTS reply. */
export type TtsReplyCode = (typeof TTS_REPLY_CODES)[number];

/** HTTP status of each TTS error code. */
export const TTS_HTTP_STATUS: Record<TtsReplyCode, number> = {
  EMPTY_TEXT: 400,
  TEXT_TOO_LONG: 413,
  UNSPEAKABLE_TEXT: 422,
  UNKNOWN_VOICE: 404,
  UNKNOWN_SPEAKER: 404,
  INVALID_OPTION: 400,
  UNSUPPORTED_FORMAT: 400,
  BAD_VOICE_CONFIG: 500,
  BAD_VOICE_MODEL: 500,
  PHONEMIZER_FAILED: 503,
  ENGINE_FAILED: 503,
  BUSY: 503,
  ABORTED: 499,
  CLOSED: 503,
};

/** A voice name: the model file name without `.onnx`, e.g. `en_US-lessac-medium`. */
export const TtsVoiceName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'voice names are 1-128 of [A-Za-z0-9_.-]');

/** Subject-token-safe id of one synthesis stream (chosen by the caller). */
export const TtsStreamId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'stream ids are 1-128 of [A-Za-z0-9_-]');

/** Room ids as the SFU uses them (subject-token safe). */
const TtsRoomId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'room ids are 1-128 of [A-Za-z0-9_-]');

/** Output encodings of the HTTP API: WAV (PCM16), raw 16-bit little-endian PCM, Ogg/Opus. */
export const TtsAudioFormat = z.enum(['wav', 'pcm', 'ogg']);
/** Output encoding. */
export type TtsAudioFormat = z.infer<typeof TtsAudioFormat>;

/**
 * What to say and how: shared by `POST /v1/speech` and `tts.synthesize`. Every parameter left
 * out takes the voice's default. The text limit is the service's (`TEXT_TOO_LONG` beyond it);
 * the schema only bounds the payload.
 */
export const SpeechParams = z.object({
  /** The text (plain; sentences are split and spoken in order). */
  text: z.string().max(200_000),
  /** Voice name; default: the service's default voice. */
  voice: TtsVoiceName.optional(),
  /** Speaker name or id of a multi-speaker voice (default: speaker 0). */
  speaker: z.union([z.string().min(1).max(128), z.number().int().nonnegative()]).optional(),
  /** Phoneme duration factor: < 1 faster, > 1 slower (0.1..10). */
  lengthScale: z.number().min(0.1).max(10).optional(),
  /** Generator noise, VITS `noise_scale` (0..5). */
  noiseScale: z.number().min(0).max(5).optional(),
  /** Phoneme width noise, VITS `noise_w` (0..5). */
  noiseW: z.number().min(0).max(5).optional(),
  /** Seconds of silence after every sentence but the last (0..10, default 0 as Piper). */
  sentenceSilenceSeconds: z.number().min(0).max(10).optional(),
  /** Characters the voice cannot speak: refuse the request (default) or drop them. */
  unspeakable: z.enum(['error', 'drop']).optional(),
  /** Use the audio cache for this request (read and write). Default true. */
  cache: z.boolean().optional(),
});
/** What to say and how. */
export type SpeechParams = z.infer<typeof SpeechParams>;

/** Body of `POST /v1/speech`. */
export const SpeechHttpRequest = SpeechParams.extend({
  /** Output encoding (default `wav`). */
  format: TtsAudioFormat.default('wav'),
  /**
   * Chunked response, one piece per sentence as soon as it is synthesised (WAV with an
   * unknown-length header). A stream that ends without the `X-Parley-Complete: true` trailer, or
   * with a broken chunked encoding, is incomplete.
   */
  stream: z.boolean().default(false),
  /** Announce the speech on `tts.speech.started/ended.<roomId>`. */
  roomId: TtsRoomId.optional(),
}).strict();
/** Body of `POST /v1/speech`. */
export type SpeechHttpRequest = z.infer<typeof SpeechHttpRequest>;

/** A voice as `GET /v1/voices` and `tts.voices.list` list it. */
export const TtsVoiceInfo = z.object({
  name: z.string(),
  /** Output sample rate. */
  sampleRate: z.number().int(),
  /** Language code of the voice, e.g. `en_US`, when the config names one. */
  language: z.string().optional(),
  /** espeak-ng voice used for phonemes, e.g. `en-us`. */
  espeakVoice: z.string(),
  /** Piper quality label (`x_low`, `low`, `medium`, `high`). */
  quality: z.string().optional(),
  /** Number of speakers. */
  numSpeakers: z.number().int(),
  /** Speaker name to id (empty for single-speaker voices). */
  speakers: z.record(z.string(), z.number().int()),
  /** Whether the model is loaded now. */
  loaded: z.boolean(),
  /** Whether this is the default voice. */
  default: z.boolean(),
});
/** A voice as listed. */
export type TtsVoiceInfo = z.infer<typeof TtsVoiceInfo>;

/** Response of `GET /v1/voices` and `tts.voices.list`. */
export const TtsVoiceList = z.object({
  /** Name of the default voice. */
  default: z.string(),
  voices: z.array(TtsVoiceInfo),
  /** Voice files found but unusable, with the reason. */
  problems: z.array(z.object({ name: z.string(), code: z.string(), message: z.string() })),
});
/** Response of the voice listing. */
export type TtsVoiceList = z.infer<typeof TtsVoiceList>;

/** Body of `POST /v1/phonemes`: the phonemes and model ids a text becomes, without audio. */
export const PhonemesHttpRequest = z
  .object({
    text: z.string().max(200_000),
    voice: TtsVoiceName.optional(),
    unspeakable: z.enum(['error', 'drop']).optional(),
  })
  .strict();
/** Body of `POST /v1/phonemes`. */
export type PhonemesHttpRequest = z.infer<typeof PhonemesHttpRequest>;

/** Response of `POST /v1/phonemes`: per sentence, its IPA and the ids fed to the model. */
export const PhonemesHttpResponse = z.object({
  voice: z.string(),
  sentences: z.array(
    z.object({
      text: z.string(),
      phonemes: z.string(),
      ids: z.array(z.number().int()),
      /** Phonemes the voice's id map lacks (skipped, as Piper skips them), with counts. */
      missingPhonemes: z.record(z.string(), z.number().int()),
    }),
  ),
});
/** Response of `POST /v1/phonemes`. */
export type PhonemesHttpResponse = z.infer<typeof PhonemesHttpResponse>;

/** Request of `tts.synthesize`. */
export const TtsSynthesizeRequest = SpeechParams.extend({
  /** Chunks go to `tts.stream.chunk.<streamId>`; subscribe before sending the request. */
  streamId: TtsStreamId,
  /** Announce the speech on `tts.speech.started/ended.<roomId>`. */
  roomId: TtsRoomId.optional(),
  /**
   * Largest PCM payload of one chunk in bytes before base64 (a sentence longer than this is
   * sent in several chunks). Default: the service's `TTS_NATS_CHUNK_BYTES`.
   */
  maxChunkBytes: z
    .number()
    .int()
    .min(1024)
    .max(4 * 1024 * 1024)
    .optional(),
  /**
   * For callers that play as they receive (the SFU): a first sentence longer than this many
   * characters is spoken as two pieces, cut after its first clause, so the first audio comes
   * sooner. Default: off (one piece per sentence, as Piper).
   */
  firstChunkChars: z.number().int().min(1).max(10_000).optional(),
}).strict();
/** Request of `tts.synthesize`. */
export type TtsSynthesizeRequest = z.infer<typeof TtsSynthesizeRequest>;

/** Reply of `tts.synthesize`, sent after the final chunk. */
export const TtsSynthesizeResponse = z.object({
  streamId: TtsStreamId,
  voice: z.string(),
  /** Samples per second of every chunk. */
  sampleRate: z.number().int(),
  /** Chunks published (the last one has `seq = chunks - 1` and `final: true`). */
  chunks: z.number().int().nonnegative(),
  /** Sentences spoken. */
  sentences: z.number().int().nonnegative(),
  /** Total samples over all chunks. */
  samples: z.number().int().nonnegative(),
  durationSeconds: z.number().nonnegative(),
  /** Served from the audio cache. */
  cached: z.boolean(),
});
/** Reply of `tts.synthesize`. */
export type TtsSynthesizeResponse = z.infer<typeof TtsSynthesizeResponse>;

/** One message of a synthesis stream: audio, or the error that ended it. */
export const TtsStreamChunk = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('audio'),
    streamId: TtsStreamId,
    /** 0, 1, 2, … in publishing order; a gap means a lost message. */
    seq: z.number().int().nonnegative(),
    /** Sentence this audio belongs to (0-based). */
    sentence: z.number().int().nonnegative(),
    /** Last chunk of its sentence. */
    sentenceEnd: z.boolean(),
    /** Samples per second. */
    sampleRate: z.number().int(),
    /** Mono 16-bit little-endian PCM, base64. */
    pcm: z.string(),
    /** Samples in `pcm`. */
    samples: z.number().int().nonnegative(),
    /** Last chunk of a stream that completed; never set on partial audio. */
    final: z.boolean(),
  }),
  z.object({
    type: z.literal('error'),
    streamId: TtsStreamId,
    seq: z.number().int().nonnegative(),
    /** Why the stream ended early; the audio before it is incomplete. */
    error: ErrorBody,
  }),
]);
/** One message of a synthesis stream. */
export type TtsStreamChunk = z.infer<typeof TtsStreamChunk>;

/** Payload of `tts.stream.cancelled.<streamId>`. */
export const TtsStreamCancelled = z.object({
  streamId: TtsStreamId,
  reason: z.string().max(256).optional(),
});

/** Payload of `tts.speech.started.<roomId>`. */
export const TtsSpeechStarted = z.object({
  roomId: TtsRoomId,
  /** The stream id (one per speech request). */
  requestId: z.string(),
  voice: z.string(),
  sampleRate: z.number().int(),
  sentences: z.number().int().nonnegative(),
  text: z.string(),
});
/** Payload of `tts.speech.ended.<roomId>`. */
export const TtsSpeechEnded = z.object({
  roomId: TtsRoomId,
  requestId: z.string(),
  voice: z.string(),
  /** `done`: every sentence spoken; `cancelled`: stopped by the caller; `error`: failed. */
  reason: z.enum(['done', 'cancelled', 'error']),
  samples: z.number().int().nonnegative(),
  durationSeconds: z.number().nonnegative(),
  error: ErrorBody.optional(),
});

/** NATS requests served by the TTS service (queue group `tts`). */
export const ttsContracts = {
  synthesize: defineRequest({
    subject: 'tts.synthesize',
    request: TtsSynthesizeRequest,
    response: TtsSynthesizeResponse,
    timeoutMs: 120_000,
    description:
      'Synthesise text; audio chunks stream to tts.stream.chunk.<streamId>, the reply summarises after the final one.',
  }),
  voices: defineRequest({
    subject: 'tts.voices.list',
    request: z.object({}).strict(),
    response: TtsVoiceList,
    timeoutMs: 2000,
    description: 'The voices of one TTS node and its default voice.',
  }),
};

/** NATS events of the TTS service; each takes one trailing token. */
export const ttsEvents = {
  /** Audio of one stream: `tts.stream.chunk.<streamId>`. */
  streamChunk: defineEvent({
    subject: 'tts.stream.chunk',
    payload: TtsStreamChunk,
    description: 'Numbered audio chunks of a tts.synthesize stream, then final or an error.',
  }),
  /** `tts.stream.cancelled.<streamId>`: stop that synthesis. */
  streamCancelled: defineEvent({
    subject: 'tts.stream.cancelled',
    payload: TtsStreamCancelled,
    description: 'The caller cancelled a stream; the node synthesising it stops.',
  }),
  /** `tts.speech.started.<roomId>`. */
  speechStarted: defineEvent({
    subject: 'tts.speech.started',
    payload: TtsSpeechStarted,
    description: 'Speech for a room started (first audio is on its way).',
  }),
  /** `tts.speech.ended.<roomId>`. */
  speechEnded: defineEvent({
    subject: 'tts.speech.ended',
    payload: TtsSpeechEnded,
    description: 'Speech for a room ended: done, cancelled or failed.',
  }),
};

registerContracts(...Object.values(ttsContracts), ...Object.values(ttsEvents));
