import { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';

interface Window {
  hits: number;
  endsAt: number;
  blockedUntil: number;
}

/**
 * In-process fixed-window storage, O(1) per request: the same rule as the Redis script. (The
 * throttler's default storage keeps one timestamp per hit and filters them on every request,
 * which costs O(limit) per request at high limits, on the hot path.)
 */
export class MemoryThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly windows = new Map<string, Window>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(now: () => number = Date.now) {
    this.now = now;
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  private readonly now: () => number;

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    const k = `${throttlerName}:${key}`;
    let w = this.windows.get(k);
    if (w && w.blockedUntil > now) {
      return {
        totalHits: w.hits,
        timeToExpire: secs(w.endsAt - now),
        isBlocked: true,
        timeToBlockExpire: secs(w.blockedUntil - now),
      };
    }
    if (!w || w.endsAt <= now) {
      w = { hits: 0, endsAt: now + ttl, blockedUntil: 0 };
      this.windows.set(k, w);
    }
    w.hits++;
    if (w.hits > limit) {
      w.blockedUntil = now + blockDuration;
      return {
        totalHits: w.hits,
        timeToExpire: secs(w.endsAt - now),
        isBlocked: true,
        timeToBlockExpire: secs(blockDuration),
      };
    }
    return { totalHits: w.hits, timeToExpire: secs(w.endsAt - now), isBlocked: false, timeToBlockExpire: 0 };
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, w] of this.windows) if (w.endsAt <= now && w.blockedUntil <= now) this.windows.delete(k);
  }
}

function secs(ms: number): number {
  return Math.ceil(Math.max(0, ms) / 1000);
}
