import { BUSY_WRITES, IngestLoad, trackIngest, writesInFlight } from './ingest-load';

/** A controllable clock, event-loop utilisation, ingest counter and writes in flight. */
function harness(threshold: number) {
  const s = { t: 0, util: 0, count: 0, writing: 0 };
  const elu = (prev?: unknown) =>
    (prev ? { utilization: s.util, idle: 0, active: 0 } : { utilization: 0, idle: 0, active: 0 }) as ReturnType<
      typeof performance.eventLoopUtilization
    >;
  const load = new IngestLoad(
    threshold,
    () => s.t,
    elu,
    () => s.count,
    () => s.writing,
  );
  return { s, load };
}

describe('IngestLoad', () => {
  it('is busy when the loop was saturated and conversions came in during the window', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.util = 0.95;
    s.count = 100;
    expect(load.isBusy()).toBe(true);
  });

  it('is not busy when the loop was saturated by other work (no conversions in the window)', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.util = 0.99;
    expect(load.isBusy()).toBe(false);
  });

  it('is not busy when conversions come in but the loop has room', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.util = 0.5;
    s.count = 100;
    expect(load.isBusy()).toBe(false);
  });

  it('keeps its answer within a window and re-reads after it', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.util = 0.95;
    s.count = 10;
    expect(load.isBusy()).toBe(true);
    s.t = 700; // same window: the earlier reading stands
    s.util = 0.1;
    expect(load.isBusy()).toBe(true);
    s.t = 1200; // next window: no new conversions
    expect(load.isBusy()).toBe(false);
  });

  it('is busy when many conversions wait in the write path, even with the loop below the threshold (the database is the limit)', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.util = 0.6;
    s.count = 100;
    s.writing = BUSY_WRITES;
    expect(load.isBusy()).toBe(true);
    s.t = 1200;
    s.count = 200;
    s.writing = BUSY_WRITES - 1;
    expect(load.isBusy()).toBe(false);
  });

  it('is not busy with writes in flight but none arriving in the window', () => {
    const { s, load } = harness(0.8);
    s.t = 600;
    s.writing = 50;
    expect(load.isBusy()).toBe(false);
  });

  it('is switched off by a threshold of 100%', () => {
    const { s, load } = harness(1);
    s.t = 600;
    s.util = 1;
    s.count = 100;
    expect(load.isBusy()).toBe(false);
  });
});

describe('trackIngest', () => {
  it('counts a write as in the write path until it settles, fulfilled or rejected', async () => {
    const base = writesInFlight();
    let settle!: () => void;
    let fail!: (e: Error) => void;
    const a = trackIngest(() => new Promise<void>((r) => (settle = r)));
    const b = trackIngest(() => new Promise<void>((_, j) => (fail = j)));
    expect(writesInFlight() - base).toBe(2);
    settle();
    await a;
    expect(writesInFlight() - base).toBe(1);
    fail(new Error('refused'));
    await expect(b).rejects.toThrow('refused');
    expect(writesInFlight() - base).toBe(0);
    expect(() =>
      trackIngest(() => {
        throw new Error('sync');
      }),
    ).toThrow('sync');
    expect(writesInFlight() - base).toBe(0);
  });
});
