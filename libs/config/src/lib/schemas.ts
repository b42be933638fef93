import { z } from 'zod';
import { bool, httpUrl, port, posInt, urlList } from './fields';

/** Settings every service shares: logging, node identity, NATS, tracing. */
export const commonEnv = {
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe('Runtime mode.'),
  LOG_LEVEL: z
    .enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'])
    .default('info')
    .describe('Minimum log level of the JSON logs on stdout.'),
  PARLEY_NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .optional()
    .describe('Stable id of this process (default: hostname-pid-random).'),
  NATS_URL: urlList(['nats', 'tls', 'ws', 'wss'], 'nats://127.0.0.1:4222').describe(
    'Comma-separated NATS server URLs.',
  ),
  NATS_USER: z.string().optional().describe('NATS user (with NATS_PASSWORD).'),
  NATS_PASSWORD: z
    .string()
    .optional()
    .describe('NATS password; NATS_PASSWORD_FILE reads it from a file.'),
  NATS_TOKEN: z
    .string()
    .optional()
    .describe('NATS auth token; NATS_TOKEN_FILE reads it from a file.'),
  NATS_REQUEST_TIMEOUT_MS: posInt(5000).describe(
    'Default deadline of NATS requests without their own.',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl()
    .optional()
    .describe(
      'OTLP/HTTP collector base URL (traces go to <url>/v1/traces). Unset: tracing export off.',
    ),
  OTEL_BSP_SCHEDULE_DELAY: posInt(2000).describe('Milliseconds between span export batches.'),
  SHUTDOWN_GRACE_MS: posInt(10_000).describe('How long a stopping service drains before exiting.'),
};

const redisEnv = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'expected redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379')
    .describe('Redis URL (credentials may be embedded; REDIS_URL_FILE reads it from a file).'),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]*$/)
    .default('parley:')
    .describe('Prefix of every Redis key (separate deployments or test runs).'),
};

function httpEnv(prefix: string, defPort: number) {
  return {
    [`${prefix}_HTTP_HOST`]: z.string().default('0.0.0.0').describe('HTTP listen address.'),
    [`${prefix}_HTTP_PORT`]: port(defPort).describe('HTTP port (health, metrics, API).'),
  } as Record<`${string}_HTTP_HOST` | `${string}_HTTP_PORT`, z.ZodType>;
}

type HttpKeys<P extends string> = { [K in `${P}_HTTP_HOST`]: z.ZodDefault<z.ZodString> } & {
  [K in `${P}_HTTP_PORT`]: ReturnType<typeof port>;
};

function serviceSchema<P extends string, X extends z.ZodRawShape>(
  prefix: P,
  defPort: number,
  extra: X,
) {
  return z.object({
    ...commonEnv,
    ...(httpEnv(prefix, defPort) as unknown as HttpKeys<P>),
    ...extra,
  });
}

/** A rate `N/<duration>` (`50/1s`, `600/1m`); signaling parses it with `parseRate`. */
const rate = (def: string) =>
  z
    .string()
    .regex(/^\d+\/\d*(ms|s|m|h)$/, 'expected N/<duration>, e.g. 50/1s or 600/1m')
    .default(def);
const nonNegInt = (def: number, max: number) =>
  z.coerce.number().int().min(0).max(max).default(def);

/** Signaling: REST + WebSocket, Redis sessions and rate limits. */
export const signalingEnv = serviceSchema('SIGNALING', 8080, {
  ...redisEnv,
  SIGNALING_PUBLIC_URL: httpUrl()
    .optional()
    .describe('Public base URL (demo page, `wsUrl` of minted tokens; default: the request host).'),
  SIGNALING_TENANT_KEYS: z
    .string()
    .optional()
    .describe(
      'Tenants as JSON: [{"tenant":"acme","apiKey":"APIacme01","apiSecret":"<32+ chars>"}]; several keys per tenant allowed.',
    ),
  SIGNALING_DEV_TOKENS: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,128}$/, 'expected an API key of SIGNALING_TENANT_KEYS')
    .optional()
    .describe(
      'Development only: an API key of SIGNALING_TENANT_KEYS with which the demo page at / gets tokens without credentials (POST /demo/token). Unset: off. Ignored when NODE_ENV=production.',
    ),
  SIGNALING_TOKEN_DEFAULT_TTL_S: posInt(3600).describe(
    'Lifetime of tokens minted by POST /v1/tokens.',
  ),
  SIGNALING_TOKEN_MAX_TTL_S: posInt(86_400).describe('Longest lifetime POST /v1/tokens grants.'),
  SIGNALING_TOKEN_CLOCK_TOLERANCE_S: nonNegInt(5, 300).describe(
    'Clock skew accepted on token exp/nbf.',
  ),
  SIGNALING_RECONNECT_GRACE_S: nonNegInt(30, 3600).describe(
    'Seconds a dropped connection keeps its peer (resume with the session id).',
  ),
  SIGNALING_REQUEST_TIMEOUT_MS: posInt(10_000).describe(
    'Deadline of every WebSocket request; past it the client gets TIMEOUT.',
  ),
  SIGNALING_SFU_TIMEOUT_MS: posInt(4000).describe(
    'Deadline of each SFU call; past it the client gets SFU_UNAVAILABLE.',
  ),
  SIGNALING_AUTO_CREATE_ROOMS: bool(true).describe(
    'A join creates its room (default options) when it does not exist.',
  ),
  SIGNALING_ROOM_MAX_PARTICIPANTS: posInt(100).describe('Default max participants of a room.'),
  SIGNALING_ROOM_EMPTY_TIMEOUT_S: nonNegInt(300, 86_400).describe(
    'Default seconds an empty room lives on.',
  ),
  SIGNALING_WS_MAX_INFLIGHT: posInt(16).describe(
    'Requests one connection may have in progress at once.',
  ),
  SIGNALING_WS_BAD_FRAMES: posInt(20).describe(
    'Bad frames (non-JSON, unknown, invalid, too big) tolerated per minute before the socket is closed (4008).',
  ),
  SIGNALING_WS_HEARTBEAT_S: posInt(15).describe(
    'WebSocket ping interval; a socket silent for two intervals is dropped (grace starts).',
  ),
  SIGNALING_RATE_REST_TENANT: rate('1200/1m').describe('REST calls per tenant.'),
  SIGNALING_RATE_REST_CALLER: rate('600/1m').describe(
    'REST calls per API key or participant identity.',
  ),
  SIGNALING_RATE_WS_TENANT: rate('5000/1s').describe('WebSocket messages per tenant.'),
  SIGNALING_RATE_WS_IDENTITY: rate('50/1s').describe(
    'WebSocket messages per participant identity.',
  ),
  SIGNALING_RATE_JOIN_TENANT: rate('200/1s').describe('Joins per tenant.'),
  SIGNALING_RATE_JOIN_IDENTITY: rate('10/10s').describe('Joins per participant identity.'),
  SIGNALING_RATE_CONNECT_IP: rate('50/1s').describe('WebSocket connection attempts per client IP.'),
});
/** SFU: mediasoup workers and the media API. */
export const sfuEnv = serviceSchema('SFU', 8081, {
  SFU_WORKERS: z.coerce
    .number()
    .int()
    .min(0)
    .max(256)
    .default(0)
    .describe('mediasoup workers (0 = one per core).'),
  SFU_LISTEN_IP: z.ipv4().default('127.0.0.1').describe('IP the WebRtcServers listen on.'),
  SFU_ANNOUNCED_ADDRESS: z
    .string()
    .optional()
    .describe('IP or hostname announced in ICE candidates (NAT, cloud).'),
  SFU_RTC_PORT_BASE: port(40000).describe(
    'First UDP/TCP port of the WebRtcServers: worker i listens on base+i (0 = any free port).',
  ),
  SFU_WORKER_LOG_LEVEL: z
    .enum(['debug', 'warn', 'error', 'none'])
    .default('warn')
    .describe('Log level of the mediasoup worker processes.'),
  SFU_WORKER_POLL_MS: nonNegInt(5000, 3_600_000).describe(
    'How often worker CPU/memory is sampled for placement and metrics (0 = never).',
  ),
  SFU_STATS_INTERVAL_MS: nonNegInt(10_000, 3_600_000).describe(
    'How often bitrate and packet loss of every stream are collected for metrics (0 = never).',
  ),
  SFU_ROOM_IDLE_TIMEOUT_S: nonNegInt(300, 86_400).describe(
    'Seconds a room without peers stays open (0 = forever); sfu.room.open may override it.',
  ),
  SFU_CONSUMERS_PER_ROUTER: posInt(400).describe(
    'Consumers a room carries on one worker before it spans another (pipeToRouter).',
  ),
  SFU_AUDIO_LEVEL_INTERVAL_MS: posInt(800).describe(
    'Interval of the audio level / active speaker reports of a room.',
  ),
  SFU_START_RETRY_MS: posInt(5000).describe(
    'Delay before starting the worker pool again after it failed to start.',
  ),
  MEDIASOUP_WORKER_BIN: z
    .string()
    .optional()
    .describe('Path of the mediasoup-worker binary (set by the bootstrap).'),
  SFU_TAP_PARTIAL_INTERVAL_MS: nonNegInt(1000, 20_000).describe(
    'Audio between partial transcripts requested while a participant speaks (0 = finals only).',
  ),
  SFU_TAP_MAX_UTTERANCE_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(20_000)
    .default(15_000)
    .describe('Longest utterance sent to STT in one piece; a longer one is cut (STT takes 20 s).'),
  SFU_VAD_MIN_SPEECH_MS: posInt(60).describe('Consecutive speech that starts an utterance.'),
  SFU_VAD_HANGOVER_MS: posInt(400).describe(
    'Silence after speech that ends an utterance (part of the end-of-speech → final latency).',
  ),
  SFU_VAD_MIN_DB: z.coerce
    .number()
    .min(-120)
    .max(0)
    .default(-50)
    .describe('Level (dBFS) a 20 ms frame needs to count as speech, whatever the noise.'),
  SFU_VAD_MARGIN_DB: z.coerce
    .number()
    .min(0)
    .max(60)
    .default(10)
    .describe('…and how far above the tracked noise floor it must be, dB.'),
  SFU_STT_TIMEOUT_MS: posInt(10_000).describe(
    'Deadline of each stt.realtime.transcribe request (partials and finals).',
  ),
  SFU_TTS_FIRST_AUDIO_TIMEOUT_MS: posInt(10_000).describe(
    'A speech request whose first TTS audio has not come by then fails (TIMEOUT).',
  ),
  SFU_TTS_TIMEOUT_MS: posInt(120_000).describe('Deadline of a whole tts.synthesize stream.'),
  SFU_SAY_MAX_QUEUE: posInt(16).describe(
    'Speech requests one room may have queued; more are refused with BUSY.',
  ),
});
/** Settings of the batch lane shared by the orchestrator (creates the stream) and the workers. */
const sttJobsEnv = {
  STT_JOB_ACK_WAIT_MS: posInt(30_000).describe(
    'A job in hand whose worker sends no progress for this long is redelivered (workers extend it while alive).',
  ),
  STT_JOB_MAX_DELIVER: posInt(5).describe(
    'Deliveries of a job before it fails for good (WORKER_LOST or its last error).',
  ),
  STT_JOB_STORAGE: z
    .enum(['file', 'memory'])
    .default('file')
    .describe('JetStream storage of jobs, their audio and results (memory: tests only).'),
  STT_JOB_TTL_S: posInt(7 * 86_400).describe(
    'How long job states, results and audio are kept (JetStream max age; set where the buckets are created first).',
  ),
};
/** STT orchestration: whisper.cpp-compatible HTTP API, jobs, routing. */
export const sttEnv = serviceSchema('STT', 8082, {
  ...sttJobsEnv,
  STT_MAX_UPLOAD_BYTES: posInt(100 * 1024 * 1024).describe('Largest accepted upload.'),
  STT_MAX_AUDIO_S: posInt(3600).describe(
    'Longest accepted audio, seconds (AUDIO_TOO_LONG beyond); decoding stops there.',
  ),
  STT_FFMPEG: z
    .string()
    .default('ffmpeg')
    .describe('ffmpeg binary that decodes uploads (MP3, Ogg/Opus, FLAC, WebM, …) to 16 kHz mono.'),
  STT_DECODE_TIMEOUT_MS: posInt(120_000).describe('Longest ffmpeg decode of one upload.'),
  STT_INFERENCE_REALTIME_MAX_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(20_000)
    .default(20_000)
    .describe(
      'POST /inference audio up to this long goes to the realtime lane; longer audio becomes a job.',
    ),
  STT_INFERENCE_TIMEOUT_MS: posInt(600_000).describe(
    'How long POST /inference waits for its result.',
  ),
});
/** STT worker: whisper.cpp engine host. */
export const sttWorkerEnv = serviceSchema('STT_WORKER', 8083, {
  ...sttJobsEnv,
  PARLEY_WHISPER_MODEL: z
    .string()
    .optional()
    .describe('Path of real ggml Whisper weights (default: the synthetic fixture).'),
  PARLEY_WHISPER_SYNTHETIC_MODEL: z
    .string()
    .optional()
    .describe(
      'Path of the synthetic test model (set by the bootstrap; default <repo>/.parley/models/ggml-synthetic-tiny.bin).',
    ),
  PARLEY_WHISPER_ADDON: z
    .string()
    .optional()
    .describe(
      "Path of the natively built whisper addon (set by the bootstrap; default: smart-whisper's build/Release).",
    ),
  STT_WORKER_THREADS: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe(
      'whisper.cpp threads per call. ggml threads wait for each other at every graph node (the Parley build spins briefly, then yields): threads × workers beyond the free cores costs latency.',
    ),
  STT_WORKER_DEVICE: z.enum(['cpu', 'cuda', 'vulkan']).default('cpu').describe('Inference device.'),
  STT_WORKER_MODEL_DIRS: z
    .string()
    .optional()
    .describe(
      'Comma-separated directories POST /load may load models from (default: those of PARLEY_WHISPER_MODEL and the synthetic model).',
    ),
  STT_WORKER_HEARTBEAT_MS: posInt(2000).describe('Interval of the worker announcement on NATS.'),
  STT_WORKER_BATCH: bool(true).describe('Pull batch jobs (false: realtime lane only).'),
  STT_WORKER_BATCH_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(30_000)
    .default(30_000)
    .describe(
      'Longest batch window (checkpoint and progress unit); 30000 gives whisper its full context. A realtime request aborts the running window (whisper stops within about a millisecond, in the encoder too), which restarts at half its length (down to 5 s), so windows shrink while realtime traffic lasts and grow back after.',
    ),
  STT_WORKER_MAX_PREEMPTIONS: z.coerce
    .number()
    .int()
    .min(0)
    .max(100)
    .default(3)
    .describe(
      'Times realtime requests may abort one batch window (each time it restarts at half its length); after that they wait for it.',
    ),
  STT_WORKER_BATCH_YIELD_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(10_000)
    .default(300)
    .describe(
      'A batch window starts only this long after the last realtime request ended (realtime comes in bursts: a window started in a pause would mostly be aborted again).',
    ),
  STT_WORKER_PARTIAL_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(10_000)
    .default(1000)
    .describe(
      'Realtime streams: re-decode the growing utterance this often while speech continues.',
    ),
  STT_WORKER_VAD: bool(true).describe(
    'Gate the realtime lane and batch windows with the VAD: audio without speech is not transcribed.',
  ),
  STT_WORKER_STREAM_IDLE_S: posInt(60).describe(
    'A realtime stream without audio for this long is closed.',
  ),
});
/** TTS: Piper engine and API. */
export const ttsEnv = serviceSchema('TTS', 8084, {
  ...redisEnv,
  PARLEY_PIPER_VOICE: z
    .string()
    .optional()
    .describe(
      'Path of a real Piper voice .onnx; it becomes the default voice (default: the fixture voice).',
    ),
  TTS_VOICES_DIR: z
    .string()
    .optional()
    .describe(
      'Directory scanned for Piper voices (default: <repo>/.parley/voices, the generated fixtures).',
    ),
  TTS_DEFAULT_VOICE: z
    .string()
    .optional()
    .describe(
      'Default voice name when PARLEY_PIPER_VOICE is unset (default: parley-fixture, else the first voice).',
    ),
  TTS_WORKERS: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe(
      'onnxruntime sessions (worker threads) per loaded voice: requests synthesised at once.',
    ),
  TTS_MAX_QUEUE: posInt(64).describe('Sentences waiting for a session per voice before BUSY.'),
  TTS_MAX_CHARS: posInt(5000).describe('Longest text accepted (TEXT_TOO_LONG beyond).'),
  TTS_LOOKAHEAD: z.coerce
    .number()
    .int()
    .min(0)
    .max(8)
    .default(1)
    .describe('Sentences synthesised ahead of the one being sent.'),
  TTS_CACHE: bool(true).describe('Cache synthesised audio in Redis.'),
  TTS_CACHE_TTL_S: posInt(86_400).describe('Lifetime of a cached synthesis.'),
  TTS_CACHE_MAX_BYTES: posInt(256 * 1024 * 1024).describe(
    'Total size of the audio cache; the oldest entries are evicted beyond it.',
  ),
  TTS_CACHE_MAX_ENTRY_BYTES: posInt(8 * 1024 * 1024).describe(
    'Largest synthesis cached (bigger ones are always synthesised).',
  ),
  TTS_CACHE_TIMEOUT_MS: posInt(250).describe(
    'A Redis cache call slower than this counts as a miss (synthesis goes on).',
  ),
  TTS_NATS_CHUNK_BYTES: posInt(256 * 1024).describe(
    'Largest PCM payload of one tts.stream.chunk message (before base64).',
  ),
  TTS_FFMPEG: z
    .string()
    .default('ffmpeg')
    .describe(
      'ffmpeg binary used for Ogg/Opus output (needs libopus; without it format=ogg is refused).',
    ),
  TTS_OPUS_BITRATE: posInt(32_000).describe('Opus bitrate of Ogg/Opus output, bits per second.'),
  TTS_MAX_BODY_BYTES: posInt(1024 * 1024).describe(
    'Largest text body of the Piper-compatible POST / (PAYLOAD_TOO_LARGE beyond).',
  ),
});

/** Every app's env schema by service name. */
export const envSchemas = {
  signaling: signalingEnv,
  sfu: sfuEnv,
  stt: sttEnv,
  'stt-worker': sttWorkerEnv,
  tts: ttsEnv,
} as const;

/** Parsed config of a service. */
export type SignalingConfig = z.output<typeof signalingEnv>;
export type SfuConfig = z.output<typeof sfuEnv>;
export type SttConfig = z.output<typeof sttEnv>;
export type SttWorkerConfig = z.output<typeof sttWorkerEnv>;
export type TtsConfig = z.output<typeof ttsEnv>;
/** Fields every service config has. */
export type CommonConfig = z.output<z.ZodObject<typeof commonEnv>>;
