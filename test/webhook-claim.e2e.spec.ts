import { randomUUID } from 'node:crypto';
import { Dialect } from '../src/database/dialect';
import { WebhooksRepository } from '../src/modules/webhooks/webhooks.repository';
import { onCitus } from './citus';
import { db } from './db';
import { onPostgres, useTestApp } from './test-app';

interface PgClient {
  query: (s: string) => Promise<{ rows: Record<string, unknown>[] }>;
  release: () => void;
}
interface PgPoolLike {
  query: (...a: unknown[]) => Promise<unknown>;
  connect: () => Promise<PgClient>;
}

/**
 * The dispatcher's claim against a backlog: oldest first, `limit` at a time, and (PostgreSQL) off
 * the pending index's front even when the planner's statistics were taken while almost nothing
 * was pending, the situation after a burst or an endpoint's outage.
 */
describe('webhook claim', () => {
  const { t } = useTestApp({ env: { WEBHOOK_DISPATCHER: 'off' } });
  const BACKLOG = 3000;
  const p = (n: number) => (onPostgres ? `$${n}` : '?');
  const base = Date.parse('2001-01-01T00:00:00.000Z');
  const msgId = (n: number) => `msg_${String(n).padStart(6, '0')}`;
  /** PostgreSQL without Citus: the claim planned with the settings (Citus claims another way, see claimDueCitus). */
  const plainPg = onPostgres && !onCitus;

  /** `BACKLOG` pending messages of an endpoint, due long ago, oldest first by number. */
  async function writeBacklog(endpointId: string): Promise<void> {
    const time = (d: Date) => new Dialect(db(t)).time(d);
    const clickId = `clk_claim_${randomUUID()}`;
    for (let i = 0; i < BACKLOG; i += 250) {
      const rows = Array.from({ length: Math.min(250, BACKLOG - i) }, (_, k) => i + k);
      const values = rows
        .map((_, k) => {
          const [c, id, conv, at1, at2, at3] = [1, 2, 3, 4, 5, 6].map((j) => p(k * 6 + j));
          return `(${c}, ${id}, '${endpointId}', 'p', ${conv}, 'conversion.created', 'pending', 0, ${at1}, ${at2}, ${at3})`;
        })
        .join(', ');
      await db(t).query(
        `INSERT INTO webhook_messages (click_id, id, endpoint_id, partner_id, conversion_id, type, status, attempts,
           created_at, next_attempt_at, cycle_started_at) VALUES ${values}`,
        rows.flatMap((n) => {
          const at = time(new Date(base + n * 1000));
          return [clickId, msgId(n), msgId(n), at, at, at];
        }),
      );
    }
  }

  describe('oldest first', () => {
    const endpointId = randomUUID();

    beforeAll(async () => {
      const ds = db(t);
      const now = new Dialect(ds).time(new Date());
      await ds.query(
        `INSERT INTO webhook_endpoints (id, partner_id, url, events, enabled, secret_enc, created_at, updated_at)
         VALUES (${p(1)}, ${p(2)}, 'http://127.0.0.1:9/', ',conversion.created,', ${onPostgres ? 'true' : '1'}, 'x', ${p(3)}, ${p(4)})`,
        [endpointId, randomUUID(), now, now],
      );
      await writeBacklog(endpointId);
    });

    afterAll(async () => {
      // Nothing is left for a later spec's dispatcher to deliver.
      const ds = db(t);
      await ds.query(`DELETE FROM webhook_messages WHERE endpoint_id = ${p(1)}`, [endpointId]);
      await ds.query(`DELETE FROM webhook_endpoints WHERE id = ${p(1)}`, [endpointId]);
    });

    it('claims the oldest due messages, `limit` of them, and leases them', async () => {
      const repo = t.app.get(WebhooksRepository);
      const now = new Date();
      const lease = new Date(now.getTime() + 30_000);
      const first = await repo.claimDue(now, lease, 8);
      expect(first.map((m) => m.id)).toEqual(Array.from({ length: 8 }, (_, n) => msgId(n)));
      // The leased ones are not taken again: the next eight.
      const second = await repo.claimDue(now, lease, 8);
      expect(second.map((m) => m.id)).toEqual(Array.from({ length: 8 }, (_, n) => msgId(n + 8)));
    });
  });

  (plainPg ? it : it.skip)(
    'PostgreSQL: is planned as an index scan off the pending index, with no sort, whatever the statistics say',
    async () => {
      const pool = new Dialect(db(t)).pgPool() as unknown as PgPoolLike;
      // The statement the repository sends, as sent.
      const sent: string[] = [];
      const original = pool.query.bind(pool);
      const spy = jest.spyOn(pool, 'query').mockImplementation((...args: unknown[]) => {
        const q = args[0] as { text?: string } | string;
        const text = typeof q === 'string' ? q : q.text;
        if (text?.includes('FOR UPDATE OF m SKIP LOCKED')) sent.push(text);
        return original(...args);
      });
      try {
        await t.app.get(WebhooksRepository).claimDue(new Date(), new Date(Date.now() + 30_000), 8);
      } finally {
        spy.mockRestore();
      }
      expect(sent).toHaveLength(1);
      const statements = sent[0].split(/;\s*/).filter((s) => s.trim() !== '');
      const claim = statements.pop()!;
      expect(statements).toEqual(['SET LOCAL enable_sort = off', 'SET LOCAL enable_bitmapscan = off']);

      // Planned over a table of its own (a temporary copy, indexes included, which autovacuum never
      // analyzes), as the outbox is after a burst: the planner has no statistics of its backlog.
      const c = await pool.connect();
      try {
        await c.query(`CREATE TEMP TABLE wm (LIKE webhook_messages INCLUDING ALL)`);
        await c.query(
          `INSERT INTO pg_temp.wm (click_id, id, endpoint_id, partner_id, conversion_id, type, status, attempts,
             created_at, next_attempt_at, cycle_started_at)
           SELECT 'clk_claim', 'msg_' || i, '${randomUUID()}', 'p', 'c' || i, 'conversion.created',
             CASE WHEN i < 3000 THEN 'delivered' ELSE 'pending' END, 0, at, at, at
           FROM generate_series(0, 9999) i, LATERAL (SELECT timestamptz '2001-01-01' + i * interval '1 s' AS at) x`,
        );
        const onCopy = claim.replace(/\bwebhook_messages\b/g, 'pg_temp.wm');
        const plan = async (settings: string[]): Promise<string> => {
          await c.query('BEGIN');
          try {
            for (const s of settings) await c.query(s);
            const { rows } = await c.query(`EXPLAIN (FORMAT JSON) ${onCopy}`);
            return JSON.stringify(rows[0]['QUERY PLAN']);
          } finally {
            await c.query('ROLLBACK');
          }
        };
        const planned = await plan(statements);
        expect(planned).toMatch(/"Node Type":"Index Scan".*"Index Name":"wm_next_attempt_at_created_at_idx"/);
        expect(planned).not.toContain('"Node Type":"Sort"');
        expect(planned).not.toContain('Bitmap');
        // The hazard is real: left to the statistics, the same statement reads and sorts the whole backlog.
        expect(await plan([])).toMatch(/"Node Type":"Sort"|Bitmap Heap Scan/);
      } finally {
        await c.query(`DROP TABLE IF EXISTS pg_temp.wm`);
        c.release();
      }
    },
  );
});
