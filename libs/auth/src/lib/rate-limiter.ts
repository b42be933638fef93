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

// Every check of one batch in one atomic script, in order, against Redis' own clock so replicas
// agree on windows. A check counts in all its buckets only when all allow, and a later check of the
// batch sees the counts of the earlier ones: the same decisions as one script call per check.
// KEYS = the buckets of every check, in order (the window index is appended here, after ioredis
// added its prefix). ARGV[1] = number of checks; then per check its bucket count, then per bucket
// limit and window ms. Returns per check {allowed, refusing bucket index within the check, retry ms}.
const LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local a = 2
local k = 1
for c = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local keys = {}
  local refused = nil
  for i = 1, n do
    local limit = tonumber(ARGV[a + 2 * (i - 1)])
    local win = tonumber(ARGV[a + 2 * (i - 1) + 1])
    local idx = math.floor(now / win)
    local key = KEYS[k + i - 1] .. ':' .. idx
    keys[i] = key
    if not refused then
      local count = tonumber(redis.call('GET', key) or '0')
      if count >= limit then refused = {0, i, (idx + 1) * win - now} end
    end
  end
  if refused then
    out[#out + 1] = refused
  else
    for i = 1, n do
      local v = redis.call('INCR', keys[i])
      if v == 1 then redis.call('PEXPIRE', keys[i], tonumber(ARGV[a + 2 * (i - 1) + 1]) + 1000) end
    end
    out[#out + 1] = {1, 0, 0}
  end
  a = a + 2 * n
  k = k + n
end
return out
`;

type RateLimitCommand = (
  numKeys: number,
  ...args: Array<string | number>
) => Promise<Array<[number, number, number]>>;

/** Options of {@link RedisRateLimiter}. */
export interface RedisRateLimiterOptions {
  /** Prepended to every bucket key (after the client's own key prefix). */
  prefix?: string;
  /** Used while Redis is unreachable (default: a new in-memory limiter). */
  fallback?: MemoryRateLimiter;
  /** Called when a check falls back to memory (for a log line / metric). */
  onFallback?: (err: Error) => void;
  /** Most checks per script call (default 256). */
  maxBatch?: number;
}

type Decision = RateDecision & { source: string };

interface Pending {
  buckets: readonly RateBucket[];
  resolve: (d: Decision) => void;
}

/**
 * Redis-backed fixed-window rate limiter: one Lua script checks and counts every bucket
 * atomically, so limits hold across signaling replicas. The checks made in one event-loop turn go
 * to Redis in one script call (under load, the messages of many connections read in one poll
 * phase cost one round trip and one script run instead of one each; idle, a check waits for the
 * end of the current turn only). While Redis is unreachable it falls back to a per-process
 * {@link MemoryRateLimiter} with the same limits: protection stays on, service stays up.
 */
export class RedisRateLimiter {
  private readonly prefix: string;
  private readonly fallback: MemoryRateLimiter;
  private readonly maxBatch: number;
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly opts: RedisRateLimiterOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'rl:';
    this.fallback = opts.fallback ?? new MemoryRateLimiter();
    this.maxBatch = Math.max(1, opts.maxBatch ?? 256);
    redis.defineCommand('parleyRateLimitBatch', { lua: LUA });
  }

  /** Checks and (when allowed) counts one event in every bucket. */
  check(buckets: readonly RateBucket[]): Promise<Decision> {
    if (buckets.length === 0)
      return Promise.resolve({ allowed: true, retryAfterMs: 0, source: 'none' });
    return new Promise<Decision>((resolve) => {
      this.queue.push({ buckets, resolve });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    for (let i = 0; i < all.length; i += this.maxBatch)
      void this.run(all.slice(i, i + this.maxBatch));
  }

  private async run(batch: Pending[]): Promise<void> {
    if (this.redis.status === 'ready') {
      try {
        const cmd = (this.redis as unknown as { parleyRateLimitBatch: RateLimitCommand })
          .parleyRateLimitBatch;
        const keys: string[] = [];
        const args: number[] = [batch.length];
        for (const p of batch) {
          args.push(p.buckets.length);
          for (const b of p.buckets) {
            keys.push(this.prefix + b.key);
            args.push(b.limit, b.windowMs);
          }
        }
        const out = await cmd.call(this.redis, keys.length, ...keys, ...args);
        batch.forEach((p, i) => {
          const [ok, index, retry] = out[i] ?? [0, 1, 1000];
          p.resolve(
            ok === 1
              ? { allowed: true, retryAfterMs: 0, source: 'redis' }
              : {
                  allowed: false,
                  retryAfterMs: Math.max(1, Number(retry)),
                  bucket: p.buckets[index - 1]?.key,
                  source: 'redis',
                },
          );
        });
        return;
      } catch (err) {
        this.opts.onFallback?.(err as Error);
      }
    } else {
      this.opts.onFallback?.(new Error(`redis ${this.redis.status}`));
    }
    for (const p of batch) p.resolve({ ...this.fallback.check(p.buckets), source: 'memory' });
  }
}
