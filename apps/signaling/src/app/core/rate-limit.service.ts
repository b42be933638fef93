import { Inject, Injectable } from '@nestjs/common';
import { type Principal, type RateBucket, RedisRateLimiter, principalId } from '@parley/auth';
import type { Logger, Metrics } from '@parley/observability';
import { LOGGER, METRICS } from '@parley/runtime';
import { Counter } from 'prom-client';
import { RateLimitedError } from './errors';
import { RedisLink } from './redis-link';
import { SETTINGS, type SignalingSettings } from './settings';

/** What is being limited (metrics label and error message). */
export type RateScope = 'rest' | 'ws' | 'join' | 'connect';

/**
 * Signaling's rate limits (REST calls, WebSocket messages, joins, connection attempts), per
 * identity/caller and per tenant, counted in Redis so they hold across replicas. While Redis is
 * down the limiter falls back to per-process counters with the same limits.
 */
@Injectable()
export class RateLimitService {
  private readonly limiter: RedisRateLimiter;
  private readonly refused: Counter<'scope'>;
  private lastFallbackLog = 0;

  constructor(
    @Inject(RedisLink) redis: RedisLink,
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) metrics: Metrics,
  ) {
    this.limiter = new RedisRateLimiter(redis.client, {
      prefix: 'sig:rl:',
      onFallback: (err) => {
        const now = Date.now();
        if (now - this.lastFallbackLog > 10_000) {
          this.lastFallbackLog = now;
          this.logger.warn('check() | Redis unavailable, rate limits counted in memory', {
            err: err.message,
          });
        }
      },
    });
    this.refused = new Counter({
      name: 'parley_signaling_rate_limited_total',
      help: 'Calls refused by a rate limit',
      labelNames: ['scope'],
      registers: [metrics.registry],
    });
  }

  /** Buckets of one REST call by a principal. */
  restBuckets(p: Principal): RateBucket[] {
    const r = this.settings.rates;
    return [
      { key: `rest:c:${p.tenant}:${principalId(p)}`, ...r.restCaller },
      { key: `rest:t:${p.tenant}`, ...r.restTenant },
    ];
  }

  /** Buckets of one WebSocket message (plus the join buckets when it is a join). */
  wsBuckets(tenant: string, identity: string, join: boolean): RateBucket[] {
    const r = this.settings.rates;
    const b: RateBucket[] = [
      { key: `ws:i:${tenant}:${identity}`, ...r.wsIdentity },
      { key: `ws:t:${tenant}`, ...r.wsTenant },
    ];
    if (join) {
      b.push(
        { key: `join:i:${tenant}:${identity}`, ...r.joinIdentity },
        { key: `join:t:${tenant}`, ...r.joinTenant },
      );
    }
    return b;
  }

  /** Buckets of one WebSocket connection attempt. */
  connectBuckets(ip: string): RateBucket[] {
    return [{ key: `conn:ip:${ip}`, ...this.settings.rates.connectIp }];
  }

  /** Throws {@link RateLimitedError} when any bucket is exhausted. */
  async enforce(scope: RateScope, buckets: RateBucket[]): Promise<void> {
    const d = await this.limiter.check(buckets);
    if (!d.allowed) {
      this.refused.inc({ scope });
      const what = d.bucket?.startsWith('join:')
        ? 'joins'
        : scope === 'rest'
          ? 'requests'
          : scope === 'connect'
            ? 'connection attempts'
            : 'messages';
      throw new RateLimitedError(d.retryAfterMs, what);
    }
  }
}
