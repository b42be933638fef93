import { startRedisServer, testRunId } from '@parley/testing';
import { Redis } from 'ioredis';
import { MemoryRateLimiter, type RateBucket, RedisRateLimiter } from './rate-limiter';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

describe('RedisRateLimiter against a real Redis', () => {
  it('two limiters on one Redis share the counters atomically: exactly `limit` of a concurrent burst pass', async () => {
    const prefix = `${testRunId()}:`;
    const r1 = new Redis(REDIS, { keyPrefix: prefix });
    const r2 = new Redis(REDIS, { keyPrefix: prefix });
    await Promise.all([r1.ping(), r2.ping()]);
    try {
      const a = new RedisRateLimiter(r1);
      const b = new RedisRateLimiter(r2);
      const bucket = [{ key: 'burst', limit: 25, windowMs: 10_000 }];
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).check(bucket)),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(25);
      const refused = results.filter((r) => !r.allowed);
      expect(
        refused.every((r) => r.source === 'redis' && r.bucket === 'burst' && r.retryAfterMs > 0),
      ).toBe(true);
      const keys = await r1.keys(`${prefix}rl:burst:*`);
      expect(keys).toHaveLength(1);
      expect(await r1.pttl(keys[0]?.slice(prefix.length) ?? '')).toBeGreaterThan(0);
    } finally {
      r1.disconnect();
      r2.disconnect();
    }
  });

  it('checks made in one event-loop turn go to Redis in one script call, with the decisions of one call each', async () => {
    const prefix = `${testRunId()}:`;
    const redis = new Redis(REDIS, { keyPrefix: prefix });
    await redis.ping();
    try {
      const l = new RedisRateLimiter(redis);
      const a: RateBucket = { key: 'a', limit: 3, windowMs: 60_000 };
      const b: RateBucket = { key: 'b', limit: 5, windowMs: 60_000 };
      const c: RateBucket = { key: 'c', limit: 1, windowMs: 60_000 };
      // Multi-bucket checks where earlier checks of the batch refuse later ones, and a refused
      // check must not count in its other buckets.
      const seq: RateBucket[][] = [[a, b], [a, b], [c, b], [c, b], [a, b], [a, b], [b], [b], [a]];
      const expected = new MemoryRateLimiter();
      const want = seq.map((bs) => expected.check(bs));
      const send = jest.spyOn(redis, 'sendCommand');
      const got = await Promise.all(seq.map((bs) => l.check(bs)));
      expect(got.map((d) => [d.allowed, d.bucket])).toEqual(want.map((d) => [d.allowed, d.bucket]));
      expect(got.every((d) => d.source === 'redis')).toBe(true);
      expect(got.filter((d) => !d.allowed).every((d) => d.retryAfterMs > 0)).toBe(true);
      // One EVALSHA (plus the EVAL that loads the script the first time it is unknown).
      expect(send.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(send.mock.calls.length).toBeLessThanOrEqual(2);
      expect(
        Number(
          await redis.get((await redis.keys(`${prefix}rl:b:*`))[0]?.slice(prefix.length) ?? ''),
        ),
      ).toBe(5);
    } finally {
      redis.disconnect();
    }
  });

  it('falls back to in-memory counting with the same limits while Redis is unreachable', async () => {
    const server = await startRedisServer();
    const redis = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 200,
    });
    redis.on('error', () => undefined);
    const fallbacks: string[] = [];
    const l = new RedisRateLimiter(redis, { onFallback: (e) => fallbacks.push(e.message) });
    try {
      if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
      const bucket = [{ key: 'x', limit: 2, windowMs: 60_000 }];
      expect((await l.check(bucket)).source).toBe('redis');
      await server.stop();
      const during = [await l.check(bucket), await l.check(bucket), await l.check(bucket)];
      expect(during.map((d) => [d.source, d.allowed])).toEqual([
        ['memory', true],
        ['memory', true],
        ['memory', false],
      ]);
      expect(fallbacks.length).toBeGreaterThan(0);
    } finally {
      redis.disconnect();
      await server.dispose();
    }
  });
});
