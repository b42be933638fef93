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

/** Signaling: REST + WebSocket, Redis sessions and rate limits. */
export const signalingEnv = serviceSchema('SIGNALING', 8080, {
  ...redisEnv,
  SIGNALING_PUBLIC_URL: httpUrl()
    .optional()
    .describe('URL printed for the demo page (default: from host/port).'),
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
    'First UDP/TCP port of the WebRtcServers (one per worker).',
  ),
  MEDIASOUP_WORKER_BIN: z
    .string()
    .optional()
    .describe('Path of the mediasoup-worker binary (set by the bootstrap).'),
});
/** STT orchestration: whisper.cpp-compatible HTTP API, jobs, routing. */
export const sttEnv = serviceSchema('STT', 8082, {
  STT_MAX_UPLOAD_BYTES: posInt(100 * 1024 * 1024).describe('Largest accepted upload.'),
});
/** STT worker: whisper.cpp engine host. */
export const sttWorkerEnv = serviceSchema('STT_WORKER', 8083, {
  PARLEY_WHISPER_MODEL: z
    .string()
    .optional()
    .describe('Path of real ggml Whisper weights (default: the synthetic fixture).'),
  STT_WORKER_THREADS: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(2)
    .describe('whisper.cpp threads per worker.'),
  STT_WORKER_DEVICE: z.enum(['cpu', 'cuda', 'vulkan']).default('cpu').describe('Inference device.'),
});
/** TTS: Piper engine and API. */
export const ttsEnv = serviceSchema('TTS', 8084, {
  ...redisEnv,
  PARLEY_PIPER_VOICE: z
    .string()
    .optional()
    .describe('Path of a real Piper voice .onnx (default: the fixture voice).'),
  TTS_VOICES_DIR: z.string().optional().describe('Directory scanned for Piper voices.'),
  TTS_CACHE: bool(true).describe('Cache synthesised audio in Redis.'),
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
