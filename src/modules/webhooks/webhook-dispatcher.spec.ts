import { MAX_RETRY_DELAY_MS, retryAfterMs, retryDelayMs } from './webhook-dispatcher';

describe('retry schedule', () => {
  it('grows 4-fold from the base, capped at 6 h, with ±25% jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, 5000, mid))).toEqual([
      5000,
      20000,
      80000,
      320000,
      1280000,
      5120000,
      20480000,
      MAX_RETRY_DELAY_MS,
    ]);
    expect(retryDelayMs(1, 5000, () => 0)).toBe(3750);
    expect(retryDelayMs(1, 5000, () => 0.999999)).toBe(6250);
  });

  it('covers at least 24 hours before giving up (the sum of the delays with the lowest jitter)', () => {
    let total = 0;
    let n = 0;
    while (total < 26 * 3_600_000) total += retryDelayMs(++n, 5000, () => 0);
    expect(n).toBeLessThan(20);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded', () => {
    const now = new Date('2026-05-26T12:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Tue, 26 May 2026 12:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Tue, 26 May 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('99999999', now)).toBe(24 * 3_600_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});
