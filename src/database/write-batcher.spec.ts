import { WriteBatcher } from './write-batcher';

const settle = <O>(values: O[]): PromiseSettledResult<O>[] => values.map((value) => ({ status: 'fulfilled', value }));

const LIMITS = { maxWaitMs: 60_000, timeoutError: () => new Error('waited too long') };

describe('WriteBatcher', () => {
  it('runs a lone call on its own, and calls of one turn together', async () => {
    const batches: number[][] = [];
    const b = new WriteBatcher<number, number>(
      async (items) => (batches.push(items), settle(items.map((x) => x * 10))),
      { ...LIMITS, maxInFlight: 2, maxBatch: 100 },
    );
    expect(await b.submit(1)).toBe(10);
    expect(await Promise.all([b.submit(2), b.submit(3), b.submit(4)])).toEqual([20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it('never runs more than maxInFlight batches at once nor more than maxBatch items in one; later calls wait and go together', async () => {
    let running = 0;
    let maxRunning = 0;
    const sizes: number[] = [];
    const b = new WriteBatcher<number, number>(
      async (items) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        return settle(items);
      },
      { ...LIMITS, maxInFlight: 2, maxBatch: 3 },
    );
    const first = Array.from({ length: 7 }, (_, i) => b.submit(i));
    await new Promise((r) => setImmediate(r));
    const later = Array.from({ length: 4 }, (_, i) => b.submit(100 + i)); // arrive while both slots are busy
    expect(await Promise.all([...first, ...later])).toEqual([0, 1, 2, 3, 4, 5, 6, 100, 101, 102, 103]);
    expect(maxRunning).toBe(2);
    expect(Math.max(...sizes)).toBe(3);
    expect(sizes.reduce((a, x) => a + x, 0)).toBe(11);
  });

  it('answers each item for itself, and rejects the whole batch when run fails', async () => {
    const b = new WriteBatcher<number, number>(
      async (items) => {
        if (items.includes(-1)) throw new Error('database away');
        return items.map((x) =>
          x % 2 ? { status: 'rejected', reason: new Error(`odd ${x}`) } : { status: 'fulfilled', value: x },
        );
      },
      { ...LIMITS, maxInFlight: 1, maxBatch: 10 },
    );
    const r = await Promise.allSettled([b.submit(2), b.submit(3)]);
    expect(r[0]).toEqual({ status: 'fulfilled', value: 2 });
    expect((r[1] as PromiseRejectedResult).reason.message).toBe('odd 3');
    const failed = await Promise.allSettled([b.submit(4), b.submit(-1)]);
    expect(failed.map((x) => x.status)).toEqual(['rejected', 'rejected']);
    expect(await b.submit(6)).toBe(6); // and goes on afterwards
  });

  it('rejects calls that waited maxWaitMs for a slot while every batch is stuck, and serves later ones once a slot frees', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const b = new WriteBatcher<number, number>(
      async (items) => {
        if (items.includes(0)) await stuck;
        return settle(items);
      },
      { maxInFlight: 1, maxBatch: 10, maxWaitMs: 50, timeoutError: () => new Error('waited too long') },
    );
    const first = b.submit(0);
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    const waiting = await Promise.allSettled([b.submit(1), b.submit(2)]);
    expect(waiting.map((w) => (w.status === 'rejected' ? (w.reason as Error).message : w.status))).toEqual([
      'waited too long',
      'waited too long',
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(b.waiting).toBe(0);
    release();
    expect(await first).toBe(0);
    expect(await b.submit(3)).toBe(3);
  });
});
