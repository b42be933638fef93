import { createHash } from 'node:crypto';

import type { Redis } from 'ioredis';

import { silentTtsLogger, type TtsLogger } from './TtsLogger';
import type { ResolvedSynthesisOptions } from './PiperVoice';

/** One sentence of a cached synthesis. */
export interface CachedSentence {
  /** The sentence as written in the request. */
  text: string;
  /** Its phonemes (for Piper's `/info`). */
  phonemes: string;
  /** Samples of this sentence in `pcm` (including any sentence silence). */
  samples: number;
}

/** A complete synthesis as the cache stores it. */
export interface CachedAudio {
  /** Samples per second. */
  sampleRate: number;
  /** Sentences in order; their `samples` add up to `pcm.length`. */
  sentences: CachedSentence[];
  /** 16-bit mono PCM of all sentences. */
  pcm: Int16Array;
}

/**
 * Where synthesised audio is kept between requests. Implementations never throw: a cache that
 * fails answers `undefined` / `false` and the caller synthesises instead.
 */
export interface AudioCache {
  /** The audio stored under `key`, or `undefined` (miss, or the cache failed). */
  get(key: string): Promise<CachedAudio | undefined>;
  /** Stores audio; resolves false when it was not stored (too big, or the cache failed). */
  put(key: string, audio: CachedAudio): Promise<boolean>;
}

// Bump when anything that shapes the audio for a given text and parameters changes (sentence
// splitting, normalisation, phonemisation, PCM conversion): old entries then stop matching.
const CACHE_FORMAT = 'parley-tts-cache/1';

/**
 * Cache key of a synthesis: the voice's identity (name and a fingerprint of its files), every
 * resolved parameter the model sees, and the text. Equal keys mean equal audio.
 */
export function audioCacheKey(
  voice: { name: string; fingerprint: string },
  params: ResolvedSynthesisOptions,
  text: string,
): string {
  const h = createHash('sha256');
  h.update(
    JSON.stringify([
      CACHE_FORMAT,
      voice.name,
      voice.fingerprint,
      params.scales,
      params.speakerId ?? null,
      params.silenceSamples,
      params.normalize,
      params.unspeakable,
      // A split first sentence is different audio (absent when off: older keys stay valid).
      ...(params.firstChunkChars ? [params.firstChunkChars] : []),
    ]),
  );
  h.update('\n');
  h.update(text.normalize('NFC'));
  return h.digest('hex');
}

const MAGIC = 0x31415450; // 'PTA1' little-endian

/** Serialises cached audio: magic, JSON metadata length, metadata, PCM. */
export function encodeCachedAudio(audio: CachedAudio): Buffer {
  const meta = Buffer.from(
    JSON.stringify({ sampleRate: audio.sampleRate, sentences: audio.sentences }),
    'utf8',
  );
  const pcm = Buffer.from(audio.pcm.buffer, audio.pcm.byteOffset, audio.pcm.byteLength);
  const out = Buffer.allocUnsafe(8 + meta.length + pcm.length);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(meta.length, 4);
  meta.copy(out, 8);
  pcm.copy(out, 8 + meta.length);
  return out;
}

/** Parses {@link encodeCachedAudio} output; `undefined` for anything malformed. */
export function decodeCachedAudio(buf: Buffer): CachedAudio | undefined {
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) return undefined;
  const metaLength = buf.readUInt32LE(4);
  if (8 + metaLength > buf.length) return undefined;
  let meta: { sampleRate?: unknown; sentences?: unknown };
  try {
    meta = JSON.parse(buf.subarray(8, 8 + metaLength).toString('utf8')) as typeof meta;
  } catch {
    return undefined;
  }
  const pcmBytes = buf.length - 8 - metaLength;
  if (typeof meta.sampleRate !== 'number' || !Array.isArray(meta.sentences) || pcmBytes % 2 !== 0)
    return undefined;
  const sentences = meta.sentences as CachedSentence[];
  const total = sentences.reduce(
    (n, s) => n + (typeof s?.samples === 'number' ? s.samples : NaN),
    0,
  );
  if (total !== pcmBytes / 2) return undefined;
  // Copy into an aligned buffer we own (the Redis reply's offset may be odd).
  const pcm = new Int16Array(pcmBytes / 2);
  new Uint8Array(pcm.buffer).set(buf.subarray(8 + metaLength));
  return { sampleRate: meta.sampleRate, sentences, pcm };
}

/** Options of {@link RedisAudioCache}. */
export interface RedisAudioCacheOptions {
  /** Key prefix inside the client's own `keyPrefix`. Default `tts:audio:`. */
  prefix?: string;
  /** Lifetime of an entry. */
  ttlSeconds: number;
  /** Total bytes of all entries; the oldest entries are evicted beyond it. */
  maxBytes: number;
  /** Largest single entry; bigger syntheses are not cached. */
  maxEntryBytes: number;
  /** A Redis call slower than this counts as a failure (the caller synthesises). Default 250. */
  timeoutMs?: number;
  logger?: TtsLogger;
}

/** What the cache needs from an ioredis client. */
export type AudioCacheRedis = Pick<Redis, 'getBuffer' | 'eval' | 'status' | 'options'>;

// Stores an entry, indexes it by insertion time and keeps the byte total under the cap, all in
// one atomic step. The index member is "<full key>|<bytes>" so eviction knows what it frees
// without another lookup; entries past their TTL are dropped from the index first.
//   KEYS: data key, index zset, byte counter
//   ARGV: value, ttl ms, now ms, member, bytes, max total bytes
const PUT_SCRIPT = `
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[2])
local max = tonumber(ARGV[6])
local function size_of(m)
  local sep = string.find(m, '|', 1, true)
  return tonumber(string.sub(m, sep + 1)), string.sub(m, 1, sep - 1)
end
local fresh = redis.call('ZSCORE', KEYS[2], ARGV[4]) == false
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now, ARGV[4])
local total = tonumber(redis.call('GET', KEYS[3]) or '0')
if fresh then total = redis.call('INCRBY', KEYS[3], tonumber(ARGV[5])) end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
for _, m in ipairs(expired) do
  local bytes = size_of(m)
  redis.call('ZREM', KEYS[2], m)
  total = redis.call('DECRBY', KEYS[3], bytes)
end
local evicted = 0
while total > max do
  local popped = redis.call('ZPOPMIN', KEYS[2])
  if #popped == 0 then break end
  local bytes, key = size_of(popped[1])
  redis.call('DEL', key)
  total = redis.call('DECRBY', KEYS[3], bytes)
  evicted = evicted + 1
end
if total < 0 then redis.call('SET', KEYS[3], 0) end
return evicted
`;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Audio cache in Redis: one key per synthesis with a TTL, plus a size cap over all entries
 * (oldest evicted first). Every failure (Redis down, slow, a malformed entry) is logged and
 * reported as a miss, never as an error.
 */
export class RedisAudioCache implements AudioCache {
  readonly #redis: AudioCacheRedis;
  readonly #prefix: string;
  readonly #options: RedisAudioCacheOptions;
  readonly #timeoutMs: number;
  readonly #logger: TtsLogger;
  #lastError = '';

  constructor(redis: AudioCacheRedis, options: RedisAudioCacheOptions) {
    if (options.maxEntryBytes > options.maxBytes)
      throw new RangeError('maxEntryBytes must not exceed maxBytes');
    this.#redis = redis;
    this.#prefix = options.prefix ?? 'tts:audio:';
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? 250;
    this.#logger = options.logger ?? silentTtsLogger;
  }

  /** The last failure's message ('' after a success). */
  get lastError(): string {
    return this.#lastError;
  }

  async get(key: string): Promise<CachedAudio | undefined> {
    if (this.#redis.status !== 'ready') return this.#fail('get', `redis ${this.#redis.status}`);
    try {
      const buf = await withTimeout(
        this.#redis.getBuffer(`${this.#prefix}a:${key}`),
        this.#timeoutMs,
        'cache get',
      );
      this.#lastError = '';
      if (!buf) return undefined;
      const audio = decodeCachedAudio(buf);
      if (!audio) this.#logger.warn('RedisAudioCache.get() | malformed entry ignored', { key });
      return audio;
    } catch (err) {
      return this.#fail('get', (err as Error).message);
    }
  }

  async put(key: string, audio: CachedAudio): Promise<boolean> {
    const value = encodeCachedAudio(audio);
    if (value.length > this.#options.maxEntryBytes) return false;
    if (this.#redis.status !== 'ready') {
      this.#fail('put', `redis ${this.#redis.status}`);
      return false;
    }
    const dataKey = `${this.#prefix}a:${key}`;
    const member = `${this.#redis.options.keyPrefix ?? ''}${dataKey}|${value.length}`;
    try {
      const evicted = (await withTimeout(
        this.#redis.eval(
          PUT_SCRIPT,
          3,
          dataKey,
          `${this.#prefix}index`,
          `${this.#prefix}bytes`,
          value,
          String(this.#options.ttlSeconds * 1000),
          String(Date.now()),
          member,
          String(value.length),
          String(this.#options.maxBytes),
        ),
        this.#timeoutMs * 4,
        'cache put',
      )) as number;
      this.#lastError = '';
      if (evicted > 0)
        this.#logger.debug('RedisAudioCache.put() | evicted old entries', { evicted });
      return true;
    } catch (err) {
      this.#fail('put', (err as Error).message);
      return false;
    }
  }

  #fail(op: string, message: string): undefined {
    // One line per distinct failure, not one per request while Redis is down.
    if (message !== this.#lastError)
      this.#logger.warn(`RedisAudioCache.${op}() | cache unavailable, synthesising instead`, {
        err: message,
      });
    this.#lastError = message;
    return undefined;
  }
}
