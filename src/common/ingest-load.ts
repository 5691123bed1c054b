import { performance } from 'node:perf_hooks';

/**
 * Conversions that reached the write path since the process started (any driver, any route), and
 * those in it now (submitted, not yet answered): kept by the conversions repository, read by
 * IngestLoad.
 */
let ingested = 0;
let writing = 0;

/** Wraps one conversion's write: counted as ingested, and as in the write path until it settles. */
export function trackIngest<T>(write: () => Promise<T>): Promise<T> {
  ingested++;
  writing++;
  let p: Promise<T>;
  try {
    p = write();
  } catch (e) {
    writing--;
    throw e;
  }
  return p.finally(() => writing--);
}

/** Conversions in the write path now. */
export function writesInFlight(): number {
  return writing;
}

/**
 * Conversions in the write path at once from which the process counts as saturated whatever its
 * event loop says: the group commit queues them when the database, not the loop, is the limit
 * (on a machine whose cores the database shares, the loop waits on it below the ELU threshold).
 * A client's sequential writes, or moderate concurrent traffic, stay well below it.
 */
export const BUSY_WRITES = 16;

type Elu = ReturnType<typeof performance.eventLoopUtilization>;

/**
 * "Busy with ingest": conversions reached the write path over the last window (WINDOW_MS), *and*
 * either the event loop was at least `threshold` utilised (0..1) over it or, at the reading, at
 * least BUSY_WRITES conversions were in the write path at once. Background work (the webhook
 * dispatcher) backs off while it is true, so a saturated process spends the machine on the
 * requests that are waiting; work alone (a catch-up of deliveries with no ingest) never counts as
 * busy. A threshold of 1 or more switches the signal off. Cheap: one ELU sample per window at most.
 */
export class IngestLoad {
  static readonly WINDOW_MS = 500;
  private lastElu: Elu;
  private lastAt: number;
  private lastIngested: number;
  private busy = false;

  constructor(
    private readonly threshold: number,
    private readonly now: () => number = () => performance.now(),
    private readonly elu: (prev?: Elu) => Elu = (prev) => performance.eventLoopUtilization(prev),
    private readonly count: () => number = () => ingested,
    private readonly inWrite: () => number = writesInFlight,
  ) {
    this.lastElu = this.elu();
    this.lastAt = this.now();
    this.lastIngested = this.count();
  }

  isBusy(): boolean {
    if (this.threshold >= 1) return false;
    const t = this.now();
    if (t - this.lastAt >= IngestLoad.WINDOW_MS) {
      const d = this.elu(this.lastElu);
      const n = this.count();
      this.busy = n > this.lastIngested && (d.utilization >= this.threshold || this.inWrite() >= BUSY_WRITES);
      this.lastElu = this.elu();
      this.lastAt = t;
      this.lastIngested = n;
    }
    return this.busy;
  }
}
