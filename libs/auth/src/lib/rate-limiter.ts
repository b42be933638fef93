import type { Redis } from 'ioredis';

/** A limit: at most `limit` events per fixed window of `windowMs`. */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

/** One counter to check, e.g. `{ key: 'ws:id:acme:alice', limit: 50, windowMs: 1000 }`. */
export interface RateBucket extends RateLimit {
  /** Counter name (no window suffix; the limiter adds it). */
  key: string;
}

/** Outcome of a check. */
export interface RateDecision {
  allowed: boolean;
  /** When refused: milliseconds until the refusing bucket's window ends. */
  retryAfterMs: number;
  /** When refused: the key of the bucket that refused. */
  bucket?: string;
}

/**
 * Parses `N/<duration>` (`50/1s`, `600/1m`, `10/500ms`) into a {@link RateLimit}; throws on
 * anything else.
 */
export function parseRate(spec: string): RateLimit {
  const m = /^\s*(\d+)\s*\/\s*(\d+)?\s*(ms|s|m|h)\s*$/.exec(spec);
  if (!m) throw new Error(`invalid rate ${JSON.stringify(spec)} (expected e.g. 50/1s, 600/1m)`);
  const limit = Number(m[1]);
  const n = m[2] === undefined ? 1 : Number(m[2]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[3] as 'ms' | 's' | 'm' | 'h'];
  const windowMs = n * unit;
  if (limit < 1 || windowMs < 1) throw new Error(`invalid rate ${JSON.stringify(spec)}`);
  return { limit, windowMs };
}

/**
 * Fixed-window limiter in process memory, with the same semantics as {@link RedisRateLimiter}:
 * every bucket is checked first and counted only when all allow, so refused events do not
 * extend a block and the next window is served in full. Memory is bounded: stale windows are
 * dropped, and when `maxKeys` is reached the oldest counters go first.
 */
export class MemoryRateLimiter {
  private readonly counters = new Map<string, { window: number; count: number }>();

  constructor(private readonly maxKeys = 100_000) {}

  /** Checks and (when allowed) counts one event in every bucket. */
  check(buckets: readonly RateBucket[], now = Date.now()): RateDecision {
    for (const b of buckets) {
      const window = Math.floor(now / b.windowMs);
      const c = this.counters.get(b.key);
      const count = c && c.window === window ? c.count : 0;
      if (count >= b.limit) {
        return { allowed: false, retryAfterMs: (window + 1) * b.windowMs - now, bucket: b.key };
      }
    }
    for (const b of buckets) {
      const window = Math.floor(now / b.windowMs);
      const c = this.counters.get(b.key);
      if (c && c.window === window) c.count++;
      else {
        this.counters.delete(b.key);
        this.counters.set(b.key, { window, count: 1 });
      }
    }
    if (this.counters.size > this.maxKeys) this.evict(now, buckets);
    return { allowed: true, retryAfterMs: 0 };
  }

  /** Number of live counters (tests). */
  get size(): number {
    return this.counters.size;
  }

  private evict(now: number, buckets: readonly RateBucket[]): void {
    const longest = Math.max(...buckets.map((b) => b.windowMs), 1);
    for (const [k, c] of this.counters) {
      if ((c.window + 2) * longest < now) this.counters.delete(k);
    }
    // Still too many: Map iteration order is insertion order, so these are the oldest.
    for (const k of this.counters.keys()) {
      if (this.counters.size <= this.maxKeys) break;
      this.counters.delete(k);
    }
  }
}

// All buckets in one atomic script, against Redis' own clock so replicas agree on windows.
// KEYS[i] = bucket key (the window index is appended here, after ioredis added its prefix).
// ARGV[2i-1] = limit, ARGV[2i] = window ms. Returns {allowed, refusing bucket index, retry ms}.
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local keys = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local win = tonumber(ARGV[2 * i])
  local idx = math.floor(now / win)
  local k = KEYS[i] .. ':' .. idx
  keys[i] = k
  local c = tonumber(redis.call('GET', k) or '0')
  if c >= limit then
    return {0, i, (idx + 1) * win - now}
  end
end
for i = 1, #KEYS do
  local n = redis.call('INCR', keys[i])
  if n == 1 then redis.call('PEXPIRE', keys[i], tonumber(ARGV[2 * i]) + 1000) end
end
return {1, 0, 0}
`;

type RateLimitCommand = (
  numKeys: number,
  ...args: Array<string | number>
) => Promise<[number, number, number]>;

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** Prepended to every bucket key (after the client's own key prefix). */
  prefix?: string;
  /** Used while Redis is unreachable (default: a new in-memory limiter). */
  fallback?: MemoryRateLimiter;
  /** Called when a check falls back to memory (for a log line / metric). */
  onFallback?: (err: Error) => void;
}

/**
 * Redis-backed fixed-window rate limiter: one Lua script checks and counts every bucket
 * atomically, so limits hold across signaling replicas. While Redis is unreachable it falls back
 * to a per-process {@link MemoryRateLimiter} with the same limits: protection stays on, service
 * stays up.
 */
export class RedisRateLimiter {
  private readonly prefix: string;
  private readonly fallback: MemoryRateLimiter;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisRateLimiterOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'rl:';
    this.fallback = opts.fallback ?? new MemoryRateLimiter();
    redis.defineCommand('parleyRateLimit', { lua: LUA });
  }

  /** Checks and (when allowed) counts one event in every bucket. */
  async check(buckets: readonly RateBucket[]): Promise<RateDecision & { source: string }> {
    if (buckets.length === 0) return { allowed: true, retryAfterMs: 0, source: 'none' };
    if (this.redis.status === 'ready') {
      try {
        const cmd = (this.redis as unknown as { parleyRateLimit: RateLimitCommand })
          .parleyRateLimit;
        const [ok, index, retry] = await cmd.call(
          this.redis,
          buckets.length,
          ...buckets.map((b) => this.prefix + b.key),
          ...buckets.flatMap((b) => [b.limit, b.windowMs]),
        );
        if (ok === 1) return { allowed: true, retryAfterMs: 0, source: 'redis' };
        return {
          allowed: false,
          retryAfterMs: Math.max(1, Number(retry)),
          bucket: buckets[index - 1]?.key,
          source: 'redis',
        };
      } catch (err) {
        this.opts.onFallback?.(err as Error);
      }
    } else {
      this.opts.onFallback?.(new Error(`redis ${this.redis.status}`));
    }
    return { ...this.fallback.check(buckets), source: 'memory' };
  }
}
