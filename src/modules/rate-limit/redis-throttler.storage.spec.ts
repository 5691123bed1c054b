import { randomUUID } from 'node:crypto';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/** Against the Redis that CI and the machine run (TEST_REDIS_URL, default 127.0.0.1:6379). */
const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';

describe('RedisThrottlerStorage (shared fixed window, hits of one turn counted together)', () => {
  let s: RedisThrottlerStorage;

  beforeAll(async () => {
    s = new RedisThrottlerStorage(REDIS_URL, `thrad:test:${randomUUID()}:`);
    await s.ready(2000);
  });
  afterAll(() => s.onApplicationShutdown());

  it('gives each of 8 concurrent requests its own count: the first 5 pass, the 3 past the limit are refused', async () => {
    const r = await Promise.all(Array.from({ length: 8 }, () => s.increment('key-a', 60_000, 5, 30_000, 'default')));
    expect(r.map((x) => x.totalHits)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.map((x) => x.isBlocked)).toEqual([false, false, false, false, false, true, true, true]);
    for (const x of r) expect(x.timeToExpire).toBe(60);
    expect(r.map((x) => x.timeToBlockExpire)).toEqual([0, 0, 0, 0, 0, 30, 30, 30]);
    // Blocked from then on, in later turns too, whatever the count.
    const later = await s.increment('key-a', 60_000, 5, 30_000, 'default');
    expect(later).toMatchObject({ totalHits: 8, isBlocked: true, timeToBlockExpire: 30 });
  });

  it('counts keys apart, and requests of one key across turns add up', async () => {
    const [a, b] = await Promise.all([
      s.increment('key-b', 60_000, 3, 30_000, 'default'),
      s.increment('key-c', 60_000, 3, 30_000, 'default'),
    ]);
    expect([a.totalHits, b.totalHits]).toEqual([1, 1]);
    const next = await Promise.all([
      s.increment('key-b', 60_000, 3, 30_000, 'default'),
      s.increment('key-b', 60_000, 3, 30_000, 'default'),
    ]);
    expect(next.map((x) => [x.totalHits, x.isBlocked])).toEqual([
      [2, false],
      [3, false],
    ]);
    expect((await s.increment('key-b', 60_000, 3, 30_000, 'default')).isBlocked).toBe(true);
    expect((await s.increment('key-c', 60_000, 3, 30_000, 'default')).totalHits).toBe(2);
  });

  it('fails open, every request of the turn served, when Redis is unreachable', async () => {
    const down = new RedisThrottlerStorage('redis://127.0.0.1:3649', 'thrad:test:down:');
    try {
      const r = await Promise.all(Array.from({ length: 3 }, () => down.increment('k', 60_000, 1, 30_000, 'default')));
      expect(r).toEqual(
        Array.from({ length: 3 }, () => ({ totalHits: 0, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 })),
      );
    } finally {
      await down.onApplicationShutdown();
    }
  });
});
