import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/*
 * Issue 15: the service on a Citus cluster, sharded by click_id.
 *
 * On every driver: the primary key of `conversions` becomes (click_id, id). Citus requires every
 * primary key and unique constraint of a distributed table to contain its distribution column;
 * changing it on PostgreSQL and SQLite too keeps one entity (no per-driver metadata) and one drift
 * check. Ids are still UUIDs made by the service, so `id` stays unique in practice; what no longer
 * checks it is the database. The lookups by id alone (GET /admin/conversions/{id}, the admin
 * writes) keep an index: IDX_conversions_id (not unique).
 *
 * Only when the `citus` extension is installed (SELECT 1 FROM pg_extension WHERE extname='citus'),
 * the tables are placed as follows. Tables added by other issues are placed when they exist
 * (to_regclass), so this migration can be merged in any order with theirs.
 *
 *   table                   | placement                       | why
 *   ------------------------+---------------------------------+------------------------------------------------
 *   partners                | reference (a copy on each node) | small, read by every conversion (attribution
 *   tags                    | reference                       |   window, policy, tag); rare writes; the FKs
 *   api_keys                | reference                       |   tags->partners, api_keys->partners, clicks->tags
 *   webhook_endpoints       | reference (when it exists)      |   stay valid (reference->reference, distributed->
 *                           |                                 |   reference are allowed)
 *   clicks                  | distributed by click_id         | the anchor of the co-location group (32 shards)
 *   conversions             | distributed by click_id, with   | every conversion's write (click read, claim,
 *                           |   clicks                        |   insert) is then on one shard: a router query
 *   dedup_claims            | distributed by click_id, with   | its key (dedup_key, click_id, event_type)
 *                           |   clicks                        |   already contains click_id
 *   conversion_adjustments  | distributed by click_id, with   | hangs off a conversion; PK includes click_id
 *   webhook_messages        |   clicks (when they exist)      | the outbox row is written in the conversion's
 *   webhook_deliveries      |                                 |   statement: same shard, same transaction
 *   conversion_attempts     | distributed by id (its own      | click_id is nullable (a refused attempt may
 *                           |   co-location group)            |   name no click, or garbage), and Citus refuses a
 *                           |                                 |   NULL distribution value; by id, the writes
 *                           |                                 |   (refusals, possibly floods) spread over the
 *                           |                                 |   workers; its reads are listings (fan-out)
 *   audit_log               | local table on the coordinator  | admin writes only (rare), never joined with a
 *                           |                                 |   distributed table, listed by time: one index
 *                           |                                 |   on one node serves it; written in the admin
 *                           |                                 |   write's transaction (Citus commits both)
 *   migrations              | local (TypeORM's own)           | only the migration runner reads it
 *
 * Foreign keys: the ones between the placed tables are dropped before and re-created after the
 * tables are placed (Citus converts a table only when its FKs already point at Citus tables),
 * with their own definitions and names, so the entity metadata still matches. Citus accepts
 * all of today's (reference->reference, distributed->reference). A FK it refuses (for instance
 * to conversions(id) alone) fails this migration with Citus's message: reshape it to include
 * click_id.
 */

const REFERENCE = ['partners', 'tags', 'api_keys', 'webhook_endpoints'];
/** Distributed by click_id, co-located with clicks (clicks first: the anchor). */
const BY_CLICK = [
  'clicks',
  'conversions',
  'dedup_claims',
  'conversion_adjustments',
  'webhook_messages',
  'webhook_deliveries',
];
/** Distributed by their own key, each in its own co-location group. */
const BY_OWN_KEY: [string, string][] = [['conversion_attempts', 'id']];

export class CitusDistribution1765900000015 implements MigrationInterface {
  name = 'CitusDistribution1765900000015';

  public async up(q: QueryRunner): Promise<void> {
    const pg = q.connection.options.type === 'postgres';
    // PostgreSQL swaps the constraint; SQLite rebuilds the table (its updatePrimaryKeys does nothing).
    if (pg) {
      const cols = (await q.getTable('conversions'))!.columns;
      await q.updatePrimaryKeys(
        'conversions',
        ['click_id', 'id'].map((name) =>
          Object.assign(cols.find((c) => c.name === name)!.clone(), { isPrimary: true }),
        ),
      );
    } else {
      await q.createPrimaryKey('conversions', ['click_id', 'id']);
    }
    await q.createIndex('conversions', new TableIndex({ name: 'IDX_conversions_id', columnNames: ['id'] }));

    if (!pg) return;
    const [citus] = (await q.query(`SELECT 1 AS x FROM pg_extension WHERE extname = 'citus'`)) as unknown[];
    if (!citus) return;

    // In the migration's transaction, DDL that follows other statements must run over one
    // connection per worker (else: "cannot perform a parallel DDL command").
    await q.query(`SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`);
    // Distributing copies each table's rows into its shards: longer than a request's statement timeout.
    await q.query(`SET LOCAL statement_timeout = 0`);

    const exists = async (t: string) =>
      ((await q.query(`SELECT to_regclass($1) IS NOT NULL AS e`, [`public.${t}`])) as { e: boolean }[])[0].e;
    const present = async (ts: string[]) => {
      const out: string[] = [];
      for (const t of ts) if (await exists(t)) out.push(t);
      return out;
    };
    const reference = await present(REFERENCE);
    const byClick = await present(BY_CLICK);
    const byOwn: [string, string][] = [];
    for (const [t, col] of BY_OWN_KEY) if (await exists(t)) byOwn.push([t, col]);
    const placed = [...reference, ...byClick, ...byOwn.map(([t]) => t)];

    // Every PK/unique of a table distributed by click_id must contain it: say which does not.
    for (const t of byClick) {
      const bad = (await q.query(
        `SELECT conname FROM pg_constraint c
          WHERE c.conrelid = $1::regclass AND c.contype IN ('p', 'u')
            AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                             WHERE a.attrelid = c.conrelid AND a.attname = 'click_id' AND a.attnum = ANY (c.conkey))`,
        [t],
      )) as { conname: string }[];
      if (bad.length)
        throw new Error(
          `Citus: ${t} is distributed by click_id, but its constraint(s) ${bad.map((b) => b.conname).join(', ')} do not contain click_id`,
        );
    }

    // The FKs between placed tables, with their definitions, dropped and re-created around the placement.
    const fks = (await q.query(
      `SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def
         FROM pg_constraint c
        WHERE c.contype = 'f' AND (c.conrelid::regclass::text = ANY ($1) OR c.confrelid::regclass::text = ANY ($1))`,
      [placed],
    )) as { tbl: string; name: string; def: string }[];
    for (const fk of fks) await q.query(`ALTER TABLE ${fk.tbl} DROP CONSTRAINT "${fk.name}"`);

    for (const t of reference) await q.query(`SELECT create_reference_table($1)`, [t]);
    for (const t of byClick) {
      await q.query(`SELECT create_distributed_table($1, 'click_id', colocate_with => $2)`, [
        t,
        t === 'clicks' ? 'none' : 'clicks',
      ]);
    }
    for (const [t, col] of byOwn) {
      await q.query(`SELECT create_distributed_table($1, $2, colocate_with => 'none')`, [t, col]);
    }

    for (const fk of fks) await q.query(`ALTER TABLE ${fk.tbl} ADD CONSTRAINT "${fk.name}" ${fk.def}`);
  }

  public async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'postgres') {
      const [citus] = (await q.query(`SELECT 1 AS x FROM pg_extension WHERE extname = 'citus'`)) as unknown[];
      if (citus) {
        await q.query(`SET LOCAL citus.multi_shard_modify_mode TO 'sequential'`);
        const tables = (await q.query(
          `SELECT logicalrelid::regclass::text AS t FROM pg_dist_partition WHERE logicalrelid::regclass::text = ANY ($1)`,
          [[...REFERENCE, ...BY_CLICK, ...BY_OWN_KEY.map(([t]) => t)]],
        )) as { t: string }[];
        for (const { t } of tables)
          await q.query(`SELECT undistribute_table($1, cascade_via_foreign_keys => true)`, [t]);
      }
    }
    await q.dropIndex('conversions', 'IDX_conversions_id');
    if (q.connection.options.type === 'postgres') {
      await q.updatePrimaryKeys('conversions', [
        (await q.getTable('conversions'))!.columns.find((c) => c.name === 'id')!,
      ]);
    } else {
      const t = (await q.getTable('conversions'))!;
      await q.dropPrimaryKey(t);
      await q.createPrimaryKey(t, ['id']);
    }
  }
}
