/**
 * A small in-process cache whose entries live at most `ttlMs`; a TTL of 0 caches nothing. It holds
 * at most `maxEntries`: when full, the least recently used entry goes (one entry, not the whole
 * cache, so a flood of new keys cannot flush the ones in use). Every operation is O(1): a Map keeps
 * insertion order, and a hit is moved to the end by deleting and re-inserting it.
 */
export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();
  /** Loads in flight (getOrLoad), so that concurrent misses of one key make one read, not one each. */
  private readonly loading = new Map<K, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires <= Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    // Most recently used: to the end of the eviction order.
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  set(key: K, value: V): void {
    if (this.ttlMs <= 0 || this.maxEntries <= 0) return;
    if (!this.map.delete(key) && this.map.size >= this.maxEntries) {
      this.map.delete(this.map.keys().next().value as K);
    }
    this.map.set(key, { value, expires: Date.now() + this.ttlMs });
  }

  /**
   * The cached value, or the one `load` reads, cached. Concurrent misses of one key share one load
   * (a batch of 100 items, or 50 connections, whose entry just expired make one database read, not
   * one each). A failed load is not cached: the next call loads again. A `delete` while a load is in
   * flight discards that load's value (the next call reads afresh), so an invalidation is never
   * undone by a read that started before it.
   */
  getOrLoad(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    let pending = this.loading.get(key);
    if (!pending) {
      const p: Promise<V> = load().then(
        (value) => {
          if (this.loading.get(key) === p) {
            this.loading.delete(key);
            this.set(key, value);
          }
          return value;
        },
        (e: unknown) => {
          if (this.loading.get(key) === p) this.loading.delete(key);
          throw e;
        },
      );
      this.loading.set(key, (pending = p));
    }
    return pending;
  }

  delete(key: K): void {
    this.map.delete(key);
    this.loading.delete(key);
  }

  deleteWhere(pred: (value: V, key: K) => boolean): void {
    for (const [k, e] of this.map) if (pred(e.value, k)) this.map.delete(k);
    // A value still loading is not known yet: it cannot be tested, so it is discarded too.
    this.loading.clear();
  }

  clear(): void {
    this.map.clear();
    this.loading.clear();
  }
}
