import type { DataSource } from 'typeorm';
import { writesInFlight } from '../../common/ingest-load';
import { AppError } from '../../common/errors';
import { ConversionsRepository, NewConversion } from './conversions.repository';

/** A PostgreSQL DataSource whose pg Pool is a fake: every statement it is asked to run is recorded. */
function fakePostgres(answer: (name: string, values: unknown[], text: string) => Record<string, unknown>[]) {
  const calls: { name: string; values: unknown[]; text: string }[] = [];
  const pool = {
    query: async ({ name, text, values }: { name: string; text: string; values: unknown[] }) => {
      // The Citus probe (Dialect.isCitus): plain PostgreSQL, no citus extension.
      if (text.includes('pg_extension')) return { rows: [] };
      calls.push({ name, values, text });
      return { rows: answer(name, values, text) };
    },
  };
  const ds = { options: { type: 'postgres' }, driver: { master: pool } } as unknown as DataSource;
  return { repo: new ConversionsRepository(ds, { dbPoolSize: 10, dbConnectTimeoutMs: 3000 }), calls };
}

const conversion = (i: number): NewConversion => ({
  id: `id-${i}`,
  mode: 'live',
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

/** One input column of the batch statement (an array), found by its name in the statement's `AS i(...)` list. */
const input = (text: string, values: unknown[], column: string): unknown[] => {
  const names = /AS i\(([^)]*)\)/
    .exec(text)![1]
    .split(',')
    .map((n) => n.trim());
  return values[names.indexOf(column)] as unknown[];
};

/** What the batch statement answers when it wrote every conversion it was given (one array per column). */
const written = (values: unknown[], text: string) =>
  (input(text, values, 'id') as string[]).map((id, i) => ({
    ord: String(i + 1),
    found: true,
    partner_id: 'p1',
    has_bid: true,
    inserted_id: id,
    held_id: null,
  }));

describe('ConversionsRepository on PostgreSQL: batches', () => {
  it('writes concurrent conversions in one batch statement and answers each from its row', async () => {
    const { repo, calls } = fakePostgres((name, values, text) => {
      if (name !== 'conversions_record_batch') throw new Error(`unexpected ${name}`);
      return written(values, text);
    });
    const out = await Promise.all([1, 2, 3].map((i) => repo.recordAtomically(conversion(i), 0)));
    expect(calls.map((c) => c.name)).toEqual(['conversions_record_batch']);
    expect(input(calls[0].text, calls[0].values, 'click_id')).toEqual(['clk-1', 'clk-2', 'clk-3']); // one array per column
    expect(out.map((o) => o.inserted_id)).toEqual(['id-1', 'id-2', 'id-3']);
  });

  it('counts each conversion as in the write path until its write settles (what the webhook dispatcher yields to)', async () => {
    const { repo } = fakePostgres((_name, values, text) => written(values, text));
    const before = writesInFlight();
    const out = Promise.all([1, 2].map((i) => repo.recordAtomically(conversion(i), 0)));
    expect(writesInFlight() - before).toBe(2);
    await out;
    expect(writesInFlight() - before).toBe(0);
  });

  it('retries each conversion on its own when the batch fails on one row or a deadlock (it wrote nothing)', async () => {
    for (const code of ['40P01', '22003', '23505']) {
      const { repo, calls } = fakePostgres((name, values, text) => {
        if (input(text, values, 'id').length > 1) throw Object.assign(new Error('batch failed'), { code });
        return written(values, text);
      });
      const out = await Promise.all([1, 2, 3].map((i) => repo.recordAtomically(conversion(i), 0)));
      // The batch of three, then each conversion in a batch of its own.
      expect(calls.map((c) => input(c.text, c.values, 'id').length)).toEqual([3, 1, 1, 1]);
      expect(calls.map((c) => input(c.text, c.values, 'id'))).toEqual([
        ['id-1', 'id-2', 'id-3'],
        ['id-1'],
        ['id-2'],
        ['id-3'],
      ]);
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
      query: async ({ values, text }: { values: unknown[]; text: string }) => {
        if (text.includes('pg_extension')) return { rows: [] }; // the Citus probe: plain PostgreSQL
        await stuck;
        return { rows: written(values, text) };
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

describe('ConversionsRepository on SQLite: one transaction per batch, a savepoint per conversion', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Database = require('better-sqlite3');

  it('rolls back a conversion that fails half-way (its claim with it) and commits the others of its batch', async () => {
    const db = new Database(':memory:');
    db.exec(`
      CREATE TABLE clicks (click_id TEXT PRIMARY KEY, partner_id TEXT NOT NULL, tag_id TEXT NOT NULL, bid_id TEXT, clicked_at TEXT,
        mode TEXT NOT NULL DEFAULT 'live');
      CREATE TABLE dedup_claims (dedup_key TEXT, click_id TEXT, event_type TEXT, conversion_id TEXT NOT NULL, claimed_at INTEGER NOT NULL,
        PRIMARY KEY (dedup_key, click_id, event_type));
      CREATE TABLE conversions (id TEXT PRIMARY KEY, partner_id TEXT, tag_id TEXT, click_id TEXT, bid_id TEXT, source TEXT, event_type TEXT,
        conversion_time TEXT, conversion_value TEXT, currency TEXT NOT NULL, order_id TEXT, event_id TEXT, dedup_key TEXT, dedup_layer TEXT,
        page_url TEXT, referrer TEXT, user_agent TEXT, session_id TEXT, client_id TEXT, params TEXT, created_at TEXT,
        attribution_status TEXT, mode TEXT NOT NULL);`);
    for (const i of [1, 2, 3])
      db.prepare('INSERT INTO clicks (click_id, partner_id, tag_id, bid_id, clicked_at) VALUES (?, ?, ?, ?, ?)').run(
        `clk-${i}`,
        'p1',
        't1',
        `bid-${i}`,
        '2026-05-26 12:30:00.000',
      );
    const ds = { options: { type: 'better-sqlite3' }, driver: { databaseConnection: db } } as unknown as DataSource;
    const repo = new ConversionsRepository(ds, { dbPoolSize: 1, dbConnectTimeoutMs: 3000 });
    // The second fails on its insert, after its dedup claim was written (currency is NOT NULL here).
    const broken = { ...conversion(2), currency: null as unknown as string };
    const out = await Promise.allSettled([
      repo.recordAtomically(conversion(1), 0),
      repo.recordAtomically(broken, 0),
      repo.recordAtomically(conversion(3), 0),
    ]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((out[0] as PromiseFulfilledResult<{ inserted_id: string }>).value.inserted_id).toBe('id-1');
    expect(db.prepare('SELECT id FROM conversions ORDER BY id').all()).toEqual([{ id: 'id-1' }, { id: 'id-3' }]);
    expect(db.prepare('SELECT dedup_key FROM dedup_claims ORDER BY dedup_key').all()).toEqual([
      { dedup_key: 'o-1' },
      { dedup_key: 'o-3' },
    ]);
    // Retried once fixed, it is written: nothing of the failed attempt was left behind.
    expect((await repo.recordAtomically(conversion(2), 0)).inserted_id).toBe('id-2');
    db.close();
  });
});
