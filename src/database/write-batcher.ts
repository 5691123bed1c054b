/**
 * Gathers concurrent writes into batches, the way a database groups commits: at most
 * `maxInFlight` batches run at once; calls that arrive while every slot is busy wait in a queue
 * and the next free slot takes up to `maxBatch` of them in one go. A call that finds a free slot
 * waits only for the end of the current event-loop turn (setImmediate), to be joined by the
 * requests that arrived in the same turn, so a quiet service answers as fast as without batching
 * and a busy one makes one database round trip (and one commit) for many requests.
 *
 * `run` answers every item of a batch in order, each either fulfilled or rejected on its own. A
 * call that has waited `maxWaitMs` for a slot (every batch stuck on a slow database) is rejected
 * with `timeoutError()`, as a pool rejects a request that waited too long for a connection.
 */
export class WriteBatcher<I, O> {
  private readonly queue: { item: I; at: number; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;
  private sweep?: NodeJS.Timeout;

  constructor(
    private readonly run: (items: I[]) => Promise<PromiseSettledResult<O>[]>,
    private readonly opts: { maxInFlight: number; maxBatch: number; maxWaitMs: number; timeoutError: () => unknown },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, at: Date.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Calls waiting for a slot (for tests and metrics). */
  get waiting(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.queue.length > 0 && this.inFlight >= this.opts.maxInFlight) this.armSweep();
    if (this.scheduled || this.inFlight >= this.opts.maxInFlight || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  /** While calls wait for a slot, the oldest is rejected when its wait runs out. */
  private armSweep(): void {
    if (this.sweep) return;
    const due = this.queue[0].at + this.opts.maxWaitMs - Date.now();
    this.sweep = setTimeout(
      () => {
        this.sweep = undefined;
        const now = Date.now();
        while (this.queue.length > 0 && now - this.queue[0].at >= this.opts.maxWaitMs)
          this.queue.shift()!.reject(this.opts.timeoutError());
        if (this.queue.length > 0 && this.inFlight >= this.opts.maxInFlight) this.armSweep();
      },
      Math.max(1, due),
    );
    this.sweep.unref();
  }

  private drain(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inFlight++;
      let settled: Promise<PromiseSettledResult<O>[]>;
      try {
        settled = this.run(batch.map((b) => b.item));
      } catch (e) {
        settled = Promise.reject(e);
      }
      settled
        .then(
          (results) =>
            batch.forEach((b, i) => {
              const r = results[i];
              if (!r) b.reject(new Error('write batch answered fewer items than it was given'));
              else if (r.status === 'fulfilled') b.resolve(r.value);
              else b.reject(r.reason);
            }),
          (e: unknown) => batch.forEach((b) => b.reject(e)),
        )
        .finally(() => {
          this.inFlight--;
          this.schedule();
        });
    }
  }
}
