import { IngestLoad } from './ingest-load';

/** A controllable clock, event-loop utilisation and ingest counter. */
function harness(threshold: number) {
  const s = { t: 0, util: 0, count: 0 };
  const elu = (prev?: unknown) =>
    (prev ? { utilization: s.util, idle: 0, active: 0 } : { utilization: 0, idle: 0, active: 0 }) as ReturnType<
      typeof performance.eventLoopUtilization
    >;
  const load = new IngestLoad(
    threshold,
    () => s.t,
    elu,
    () => s.count,
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

  it('is switched off by a threshold of 100%', () => {
    const { s, load } = harness(1);
    s.t = 600;
    s.util = 1;
    s.count = 100;
    expect(load.isBusy()).toBe(false);
  });
});
