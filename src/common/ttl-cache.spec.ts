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

  describe('getOrLoad', () => {
    /** A load that resolves when told to, counting its calls. */
    function deferredLoad<V>() {
      const calls: ((v: V) => void)[] = [];
      const load = jest.fn(() => new Promise<V>((resolve) => calls.push(resolve)));
      return { load, resolve: (v: V, i = 0) => calls[i](v) };
    }

    it('concurrent misses of one key make one load, and all get its value; then it is cached', async () => {
      const c = new TtlCache<string, number>(60_000);
      const d = deferredLoad<number>();
      const all = Promise.all(Array.from({ length: 100 }, () => c.getOrLoad('p', d.load)));
      expect(d.load).toHaveBeenCalledTimes(1);
      d.resolve(7);
      expect(await all).toEqual(Array(100).fill(7));
      expect(await c.getOrLoad('p', d.load)).toBe(7);
      expect(d.load).toHaveBeenCalledTimes(1);
      expect(c.get('p')).toBe(7);
    });

    it('caches null (a value), and loads again once the TTL ends', async () => {
      jest.useFakeTimers({ now: 1_000_000 });
      const c = new TtlCache<string, number | null>(1000);
      const load = jest.fn(() => Promise.resolve(null));
      expect(await c.getOrLoad('p', load)).toBeNull();
      expect(await c.getOrLoad('p', load)).toBeNull();
      expect(load).toHaveBeenCalledTimes(1);
      jest.setSystemTime(1_001_000);
      await c.getOrLoad('p', load);
      expect(load).toHaveBeenCalledTimes(2);
    });

    it('a failed load is not cached: every waiter gets the error, the next call loads again', async () => {
      const c = new TtlCache<string, number>(60_000);
      let fail = true;
      const load = jest.fn(() => (fail ? Promise.reject(new Error('db away')) : Promise.resolve(3)));
      const both = [c.getOrLoad('p', load), c.getOrLoad('p', load)];
      await expect(both[0]).rejects.toThrow('db away');
      await expect(both[1]).rejects.toThrow('db away');
      expect(load).toHaveBeenCalledTimes(1);
      fail = false;
      expect(await c.getOrLoad('p', load)).toBe(3);
      expect(load).toHaveBeenCalledTimes(2);
    });

    it('a delete while a load is in flight discards its value: the next call reads afresh', async () => {
      const c = new TtlCache<string, number>(60_000);
      const d = deferredLoad<number>();
      const stale = c.getOrLoad('p', d.load);
      c.delete('p'); // e.g. the setting changed meanwhile
      const fresh = c.getOrLoad('p', d.load);
      expect(d.load).toHaveBeenCalledTimes(2);
      d.resolve(1, 0); // the old read
      d.resolve(2, 1); // the read after the change
      expect([await stale, await fresh]).toEqual([1, 2]);
      expect(c.get('p')).toBe(2);
    });

    it('clear and deleteWhere discard loads in flight too', async () => {
      const c = new TtlCache<string, number>(60_000);
      const d = deferredLoad<number>();
      const first = c.getOrLoad('p', d.load);
      c.clear();
      d.resolve(1);
      await first;
      expect(c.get('p')).toBeUndefined();
      const second = c.getOrLoad('q', d.load);
      c.deleteWhere(() => false);
      d.resolve(2, 1);
      await second;
      expect(c.get('q')).toBeUndefined();
    });
  });
});
