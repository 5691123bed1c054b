import type { DataSource } from 'typeorm';
import { AppError } from '../../common/errors';
import { ConversionsRepository, NewConversion } from './conversions.repository';

/** A PostgreSQL DataSource whose pg Pool is a fake: every statement it is asked to run is recorded. */
function fakePostgres(answer: (name: string, values: unknown[]) => Record<string, unknown>[]) {
  const calls: { name: string; values: unknown[] }[] = [];
  const pool = {
    query: async ({ name, values }: { name: string; text: string; values: unknown[] }) => {
      calls.push({ name, values });
      return { rows: answer(name, values) };
    },
  };
  const ds = { options: { type: 'postgres' }, driver: { master: pool } } as unknown as DataSource;
  return { repo: new ConversionsRepository(ds, { dbPoolSize: 10, dbConnectTimeoutMs: 3000 }), calls };
}

const conversion = (i: number): NewConversion => ({
  id: `id-${i}`,
  partner_id: 'p1',
  tag_id: null,
  click_id: `clk-${i}`,
  source: 'api',
  event_type: 'purchase_completed',
  conversion_time: new Date('2026-05-26T12:34:56Z'),
  conversion_value: '99.99',
  currency: 'USD',
  order_id: `o-${i}`,
  event_id: null,
  dedup_key: `o-${i}`,
  dedup_layer: 'order_id',
  page_url: null,
  referrer: null,
  user_agent: null,
  session_id: null,
  client_id: null,
  params: { extra: {} },
  created_at: new Date('2026-05-26T12:35:00Z'),
});

/** What the one-conversion statement answers for a conversion it wrote. */
const written = (values: unknown[]) => [{ found: true, partner_id: 'p1', has_bid: true, inserted_id: values[4], held_id: null }];

describe('ConversionsRepository on PostgreSQL: batches', () => {
  it('writes concurrent conversions in one batch statement and answers each from its row', async () => {
    const { repo, calls } = fakePostgres((name, values) => {
      if (name !== 'conversions_record_batch') throw new Error(`unexpected ${name}`);
      const ids = values[4] as string[];
      return ids.map((id, i) => ({ ord: String(i + 1), found: true, partner_id: 'p1', has_bid: true, inserted_id: id, held_id: null }));
    });
    const out = await Promise.all([1, 2, 3].map((i) => repo.recordAtomically(conversion(i), 0)));
    expect(calls.map((c) => c.name)).toEqual(['conversions_record_batch']);
    expect(calls[0].values[0]).toEqual(['clk-1', 'clk-2', 'clk-3']); // one array per column
    expect(out.map((o) => o.inserted_id)).toEqual(['id-1', 'id-2', 'id-3']);
  });

  it('retries each conversion on its own when the batch fails on one row or a deadlock (it wrote nothing)', async () => {
    for (const code of ['40P01', '22003', '23505']) {
      const { repo, calls } = fakePostgres((name, values) => {
        if (name === 'conversions_record_batch') throw Object.assign(new Error('batch failed'), { code });
        return written(values);
      });
      const out = await Promise.all([1, 2, 3].map((i) => repo.recordAtomically(conversion(i), 0)));
      expect(calls.map((c) => c.name)).toEqual(['conversions_record_batch', 'conversions_record_fast', 'conversions_record_fast', 'conversions_record_fast']);
      expect(out.map((o) => o.inserted_id)).toEqual(['id-1', 'id-2', 'id-3']);
    }
  });

  it('fails every conversion of the batch, without retrying, when the database is away', async () => {
    const { repo, calls } = fakePostgres(() => {
      throw Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    });
    const out = await Promise.allSettled([1, 2].map((i) => repo.recordAtomically(conversion(i), 0)));
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toHaveLength(1);
  });

  it('answers 503 to a conversion that waited longer than DB_CONNECT_TIMEOUT_MS for a batch slot', async () => {
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const pool = {
      query: async ({ values }: { values: unknown[] }) => {
        await stuck;
        return { rows: written(values) };
      },
    };
    const ds = { options: { type: 'postgres' }, driver: { master: pool } } as unknown as DataSource;
    const repo = new ConversionsRepository(ds, { dbPoolSize: 10, dbConnectTimeoutMs: 50 });
    const busy = [repo.recordAtomically(conversion(1), 0)];
    await new Promise((r) => setImmediate(r));
    busy.push(repo.recordAtomically(conversion(2), 0));
    await new Promise((r) => setImmediate(r)); // both batch slots now taken
    const late = await Promise.allSettled([repo.recordAtomically(conversion(3), 0)]);
    expect(late[0].status).toBe('rejected');
    const err = (late[0] as PromiseRejectedResult).reason as AppError;
    expect(err).toBeInstanceOf(AppError);
    expect([err.code, err.headers['Retry-After']]).toEqual(['unavailable', '2']); // the filter's 503 with Retry-After
    release();
    expect((await Promise.all(busy)).map((o) => o.inserted_id)).toEqual(['id-1', 'id-2']);
  });
});
