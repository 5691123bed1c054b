import { TtlCache } from './ttl-cache';

describe('TtlCache', () => {
  afterEach(() => jest.useRealTimers());

  it('serves an entry until its TTL ends', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const c = new TtlCache<string, number>(1000);
    c.set('a', 1);
    jest.setSystemTime(1_000_999);
    expect(c.get('a')).toBe(1);
    jest.setSystemTime(1_001_000);
    expect(c.get('a')).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it('caches nothing with a TTL of 0', () => {
    const c = new TtlCache<string, number>(0);
    c.set('a', 1);
    expect(c.get('a')).toBeUndefined();
  });

  it('when full, evicts the least recently used entry only, not everything', () => {
    const c = new TtlCache<string, number>(60_000, 3);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    expect(c.get('a')).toBe(1); // a is now the most recently used
    c.set('d', 4); // evicts b
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([1, 3, 4]);
    expect(c.size).toBe(3);
    c.set('c', 30); // overwriting refreshes too, and does not evict
    c.set('e', 5); // evicts a, now the least recently used
    expect(c.get('a')).toBeUndefined();
    expect([c.get('c'), c.get('d'), c.get('e')]).toEqual([30, 4, 5]);
  });

  it('stays at its bound under a flood of distinct keys, keeping the ones in use', () => {
    const c = new TtlCache<string, number>(60_000, 100);
    c.set('hot', 1);
    for (let i = 0; i < 10_000; i++) {
      c.set(`k${i}`, i);
      if (i % 50 === 0) expect(c.get('hot')).toBe(1);
    }
    expect(c.size).toBe(100);
    expect(c.get('hot')).toBe(1);
  });

  it('deletes one entry or every entry matching a predicate', () => {
    const c = new TtlCache<string, number>(60_000);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    c.delete('a');
    c.deleteWhere((v) => v === 2);
    expect([c.get('a'), c.get('b'), c.get('c')]).toEqual([undefined, undefined, 3]);
    c.clear();
    expect(c.size).toBe(0);
  });
});
