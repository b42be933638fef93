import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { REDIS } from '@parley/runtime';
import type { Redis } from 'ioredis';

/**
 * Signaling's Redis connection: a duplicate of the runtime's client (same URL, key prefix and
 * fail-fast options) with auto-pipelining, so the commands of many concurrent joins issued in one
 * tick leave in one write. The runtime's client keeps serving the readiness check; both follow
 * the same server.
 */
@Injectable()
export class RedisLink implements OnApplicationShutdown {
  readonly client: Redis;

  constructor(@Inject(REDIS) base: Redis) {
    this.client = base.duplicate({ enableAutoPipelining: true });
    // The runtime's client logs connection errors already; this one must not crash on them.
    this.client.on('error', () => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}
