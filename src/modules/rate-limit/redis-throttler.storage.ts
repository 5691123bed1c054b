import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import Redis from 'ioredis';

/*
 * One round trip, atomic: count the hit in a fixed window of `ttl` ms; past `limit`, block the
 * tracker for `blockDuration` ms. Returns hits, ms left in the window, blocked (0/1), ms left blocked.
 * Both keys share a hash tag so the script also runs on Redis Cluster.
 */
const INCREMENT = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  local ttl = redis.call('PTTL', KEYS[1])
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), ttl, 1, blocked}
end
local hits = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, ttl, 1, tonumber(ARGV[3])}
end
return {hits, ttl, 0, 0}`;

/**
 * Throttler storage shared by every replica, on ioredis. When Redis is unreachable it fails open
 * (the request is served, a warning is logged at most every 10 s): losing rate limiting for a
 * while is better than refusing conversions.
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: Redis;
  private lastWarn = 0;
  private closing = false;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      commandTimeout: 500,
      connectTimeout: 2000,
      retryStrategy: (times) => (this.closing ? null : Math.min(times * 200, 2000)),
    });
    this.redis.on('error', (e) => this.warn(e));
    this.redis.defineCommand('thradThrottle', { numberOfKeys: 2, lua: INCREMENT });
  }

  /** Waits (at most `ms`) for the first connection, so a replica does not start failing open. */
  async ready(ms: number): Promise<void> {
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.warn(new Error(`not connected after ${ms} ms; starting anyway`));
        resolve();
      }, ms);
      this.redis.once('ready', () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const base = `${this.prefix}rl:{${throttlerName}:${key}}`;
    try {
      const [hits, ttlMs, blocked, blockMs] = (await (
        this.redis as unknown as { thradThrottle(k1: string, k2: string, ttl: number, limit: number, block: number): Promise<number[]> }
      ).thradThrottle(`${base}:hits`, `${base}:block`, ttl, limit, blockDuration)) as number[];
      return {
        totalHits: hits,
        timeToExpire: Math.ceil(Math.max(0, ttlMs) / 1000),
        isBlocked: blocked === 1,
        timeToBlockExpire: Math.ceil(Math.max(0, blockMs) / 1000),
      };
    } catch (e) {
      this.warn(e);
      return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => undefined);
    this.redis.disconnect(); // also stops reconnection attempts to an unreachable server
  }

  private warn(e: unknown): void {
    const now = Date.now();
    if (now - this.lastWarn < 10_000) return;
    this.lastWarn = now;
    this.logger.warn(`Redis unavailable, rate limits not enforced meanwhile: ${(e as Error)?.message ?? e}`);
  }
}
