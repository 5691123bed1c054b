import { Logger, OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import Redis from 'ioredis';

/*
 * One round trip, atomic: count ARGV[4] hits in a fixed window of `ttl` ms; past `limit`, block
 * the tracker for `blockDuration` ms. Returns hits (after this call), ms left in the window,
 * blocked before this call (0/1), ms left blocked (0 when nothing is blocked).
 * Both keys share a hash tag so the script also runs on Redis Cluster.
 */
const INCREMENT = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then
  local ttl = redis.call('PTTL', KEYS[1])
  return {tonumber(redis.call('GET', KEYS[1]) or '0'), ttl, 1, blocked}
end
local hits = redis.call('INCRBY', KEYS[1], ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
if hits > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  return {hits, ttl, 0, tonumber(ARGV[3])}
end
return {hits, ttl, 0, 0}`;

interface Pending {
  base: string;
  ttl: number;
  limit: number;
  blockDuration: number;
  waiters: ((r: ThrottlerStorageRecord) => void)[];
}

/**
 * Throttler storage shared by every replica, on ioredis. When Redis is unreachable it fails open
 * (the request is served, a warning is logged at most every 10 s): losing rate limiting for a
 * while is better than refusing conversions.
 *
 * The hits of one key in one event-loop turn are counted together (one script call adds N), so a
 * busy key costs one Redis round trip per turn, not one per request; each request still gets its
 * own count (the k-th of N sees hits - N + k), so the k-th request past the limit is refused and
 * the remaining budget in the headers is exact.
 */
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('RateLimit');
  private readonly redis: Redis;
  private lastWarn = 0;
  private closing = false;
  private pending = new Map<string, Pending>();

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

  increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const base = `${this.prefix}rl:{${throttlerName}:${key}}`;
    const id = `${base}|${ttl}|${limit}|${blockDuration}`;
    return new Promise((resolve) => {
      let p = this.pending.get(id);
      if (!p) {
        if (this.pending.size === 0) setImmediate(() => this.flush());
        p = { base, ttl, limit, blockDuration, waiters: [] };
        this.pending.set(id, p);
      }
      p.waiters.push(resolve);
    });
  }

  private flush(): void {
    const batch = [...this.pending.values()];
    this.pending = new Map();
    for (const p of batch) void this.count(p);
  }

  private async count(p: Pending): Promise<void> {
    const n = p.waiters.length;
    try {
      const [hits, ttlMs, blockedBefore, blockMs] = (await (
        this.redis as unknown as {
          thradThrottle(
            k1: string,
            k2: string,
            ttl: number,
            limit: number,
            block: number,
            n: number,
          ): Promise<number[]>;
        }
      ).thradThrottle(`${p.base}:hits`, `${p.base}:block`, p.ttl, p.limit, p.blockDuration, n)) as number[];
      const timeToExpire = Math.ceil(Math.max(0, ttlMs) / 1000);
      const timeToBlockExpire = Math.ceil(Math.max(0, blockMs) / 1000);
      p.waiters.forEach((resolve, k) => {
        // Blocked before this call: every request is refused. Otherwise the k-th request counts as
        // hit number hits - n + k + 1 and is refused only past the limit.
        const own = blockedBefore === 1 ? hits : hits - n + k + 1;
        const isBlocked = blockedBefore === 1 || own > p.limit;
        resolve({ totalHits: own, timeToExpire, isBlocked, timeToBlockExpire: isBlocked ? timeToBlockExpire : 0 });
      });
    } catch (e) {
      this.warn(e);
      const open = { totalHits: 0, timeToExpire: Math.ceil(p.ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
      for (const resolve of p.waiters) resolve(open);
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
