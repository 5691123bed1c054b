import { performance } from 'node:perf_hooks';

/**
 * Conversions that reached the write path since the process started (any driver, any route):
 * counted by the conversions repository, read by IngestLoad.
 */
let ingested = 0;

/** Called once per conversion submitted to the write path. */
export function noteIngest(n = 1): void {
  ingested += n;
}

type Elu = ReturnType<typeof performance.eventLoopUtilization>;

/**
 * "Busy with ingest": over the last window (WINDOW_MS) the event loop was at least `threshold`
 * utilised (0..1) *and* conversions reached the write path. Background work (the webhook
 * dispatcher) backs off while it is true, so a saturated process spends its CPU on the requests
 * that are waiting; work alone (a catch-up of deliveries with no ingest) never counts as busy.
 * A threshold of 1 or more switches the signal off. Cheap: one ELU sample per window at most.
 */
export class IngestLoad {
  static readonly WINDOW_MS = 500;
  private lastElu: Elu;
  private lastAt: number;
  private lastIngested = ingested;
  private busy = false;

  constructor(
    private readonly threshold: number,
    private readonly now: () => number = () => performance.now(),
    private readonly elu: (prev?: Elu) => Elu = (prev) => performance.eventLoopUtilization(prev),
    private readonly count: () => number = () => ingested,
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
      this.busy = d.utilization >= this.threshold && n > this.lastIngested;
      this.lastElu = this.elu();
      this.lastAt = t;
      this.lastIngested = n;
    }
    return this.busy;
  }
}
