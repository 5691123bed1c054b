import { MemoryThrottlerStorage } from './memory-throttler.storage';

describe('MemoryThrottlerStorage (fixed window, O(1))', () => {
  it('counts hits in a window, blocks past the limit until the block ends, then starts a new window', async () => {
    let now = 1_000_000;
    const s = new MemoryThrottlerStorage(() => now);
    try {
      expect(await s.increment('k', 60_000, 2, 60_000, 'default')).toEqual({
        totalHits: 1,
        timeToExpire: 60,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
      now += 10_000;
      expect(await s.increment('k', 60_000, 2, 60_000, 'default')).toEqual({
        totalHits: 2,
        timeToExpire: 50,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
      expect(await s.increment('k', 60_000, 2, 60_000, 'default')).toEqual({
        totalHits: 3,
        timeToExpire: 50,
        isBlocked: true,
        timeToBlockExpire: 60,
      });
      expect((await s.increment('other', 60_000, 2, 60_000, 'default')).isBlocked).toBe(false);
      now += 30_000;
      expect(await s.increment('k', 60_000, 2, 60_000, 'default')).toEqual({
        totalHits: 3,
        timeToExpire: 20,
        isBlocked: true,
        timeToBlockExpire: 30,
      });
      now += 30_001;
      expect(await s.increment('k', 60_000, 2, 60_000, 'default')).toEqual({
        totalHits: 1,
        timeToExpire: 60,
        isBlocked: false,
        timeToBlockExpire: 0,
      });
    } finally {
      s.onApplicationShutdown();
    }
  });
});
