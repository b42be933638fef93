import { startRedisServer, testRunId } from '@parley/testing';
import { Redis } from 'ioredis';
import { RedisRateLimiter } from './rate-limiter';

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
