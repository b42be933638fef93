import { type PrivateServer, startRedisServer, testRunId } from '@parley/testing';
import { Redis } from 'ioredis';

import { type CachedAudio, RedisAudioCache } from './AudioCache';

function audio(samples: number, fill: number): CachedAudio {
  return {
    sampleRate: 22050,
    sentences: [{ text: `s${fill}`, phonemes: 'x', samples }],
    pcm: new Int16Array(samples).fill(fill),
  };
}

describe('RedisAudioCache (private redis-server)', () => {
  let server: PrivateServer;
  let redis: Redis;
  const prefix = `${testRunId()}:`;

  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis(server.url, {
      keyPrefix: prefix,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
    });
    await new Promise((r) => redis.once('ready', r));
  });

  afterAll(async () => {
    await redis?.quit().catch(() => redis.disconnect());
    await server?.dispose();
  });

  it('put() then get() returns the same audio; the entry expires with its TTL', async () => {
    const cache = new RedisAudioCache(redis, { ttlSeconds: 1, maxBytes: 1e6, maxEntryBytes: 1e5 });
    expect(await cache.put('k1', audio(100, 7))).toBe(true);
    const back = await cache.get('k1');
    expect(Array.from(back?.pcm ?? [])).toEqual(Array.from(audio(100, 7).pcm));
    const ttl = await redis.pttl('tts:audio:a:k1');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    await new Promise((r) => setTimeout(r, 1100));
    expect(await cache.get('k1')).toBeUndefined();
  });

  it('keeps the total under maxBytes by evicting the oldest entries, and skips entries over maxEntryBytes', async () => {
    const cache = new RedisAudioCache(redis, {
      prefix: 'cap:',
      ttlSeconds: 60,
      maxBytes: 3 * 2100,
      maxEntryBytes: 2100,
    });
    // Each entry: 1000 samples = 2000 bytes of PCM plus a small header.
    for (let i = 0; i < 5; i++) {
      expect(await cache.put(`e${i}`, audio(1000, i))).toBe(true);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await cache.get('e0')).toBeUndefined();
    expect(await cache.get('e1')).toBeUndefined();
    for (const k of ['e2', 'e3', 'e4']) expect(await cache.get(k)).toBeDefined();
    const total = Number(await redis.get('cap:bytes'));
    expect(total).toBeLessThanOrEqual(3 * 2100);
    expect(await redis.zcard('cap:index')).toBe(3);
    expect(await cache.put('big', audio(2000, 1))).toBe(false);
    // Storing the same entry again does not count its bytes twice.
    await cache.put('e4', audio(1000, 4));
    expect(Number(await redis.get('cap:bytes'))).toBe(total);
  });

  it('answers a miss instead of throwing while Redis is down', async () => {
    const cache = new RedisAudioCache(redis, { ttlSeconds: 60, maxBytes: 1e6, maxEntryBytes: 1e5 });
    await cache.put('k2', audio(10, 1));
    await server.stop();
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(await cache.get('k2')).toBeUndefined();
      expect(await cache.put('k3', audio(10, 1))).toBe(false);
      expect(cache.lastError).not.toBe('');
    } finally {
      await server.restart();
      if (redis.status !== 'ready') await new Promise((r) => redis.once('ready', r));
    }
  });
});
