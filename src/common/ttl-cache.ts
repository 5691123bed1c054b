/**
 * A small in-process cache whose entries live at most `ttlMs`; a TTL of 0 caches nothing. It holds
 * at most `maxEntries`: when full, the least recently used entry goes (one entry, not the whole
 * cache, so a flood of new keys cannot flush the ones in use). Every operation is O(1): a Map keeps
 * insertion order, and a hit is moved to the end by deleting and re-inserting it.
 */
export class TtlCache<K, V> {
  private readonly map = new Map<K, { value: V; expires: number }>();

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

  delete(key: K): void {
    this.map.delete(key);
  }

  deleteWhere(pred: (value: V, key: K) => boolean): void {
    for (const [k, e] of this.map) if (pred(e.value, k)) this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
  }
}
