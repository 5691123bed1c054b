/**
 * Counts failed authentications per client address in fixed one-minute windows, in memory. O(1)
 * per failure: one Map lookup and write; a new window starts a new Map (the old one is dropped
 * whole, not walked). At most `maxAddresses` addresses are tracked in a window; past that the
 * oldest-tracked address is forgotten, so memory stays bounded whatever an attacker sends.
 * Only failures are counted and checked: a valid key never reaches this class.
 */
export class AuthFailureThrottle {
  private window = -1;
  private counts = new Map<string, number>();

  constructor(
    /** Failures allowed per window and address; 0 switches the throttle off. */
    private readonly limit: number,
    private readonly windowMs = 60_000,
    private readonly maxAddresses = 100_000,
  ) {}

  /** Counts one failure from `address`; over the limit, the seconds until its window ends, else 0. */
  fail(address: string, nowMs: number): number {
    if (this.limit <= 0) return 0;
    const w = Math.floor(nowMs / this.windowMs);
    if (w !== this.window) {
      this.window = w;
      this.counts = new Map();
    }
    const n = (this.counts.get(address) ?? 0) + 1;
    if (n === 1 && this.counts.size >= this.maxAddresses) this.counts.delete(this.counts.keys().next().value!);
    this.counts.set(address, n);
    if (n <= this.limit) return 0;
    return Math.max(1, Math.ceil(((w + 1) * this.windowMs - nowMs) / 1000));
  }
}
