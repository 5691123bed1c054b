import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { Dialect, PgPool } from '../src/database/dialect';
import { conversionBody, makeClick } from './api-client';
import { describeOnCitus } from './citus';
import { TEST_DATABASE_URL, useTestApp } from './test-app';

type QueryConfig = Parameters<PgPool['query']>[0];

/*
 * Issue 15: on a Citus coordinator, every statement of a conversion's write is a router query:
 * one task, on the worker that holds the click's shard, nothing pulled through the coordinator.
 * The spec records what the write path sends (the statements named conversions_record*), during a
 * burst of concurrent conversions on many clicks (many shards: what the group commit gathers), and
 * reads the plan of each: a write that becomes multi-shard (one statement for many click ids, a
 * lookup without the click) fails it. Skipped unless TEST_DATABASE_URL is a Citus database.
 */
describeOnCitus('Citus: the conversion write is single-shard (e2e)', () => {
  const { t, api, partner: f } = useTestApp();
  let ds: DataSource;
  let pool: PgPool;
  let original: PgPool['query'];
  const seen: QueryConfig[] = [];

  beforeAll(() => {
    ds = t.app.get(DataSource);
    pool = new Dialect(ds).pgPool();
    original = pool.query.bind(pool);
    pool.query = (cfg: QueryConfig) => {
      if (typeof cfg === 'object' && cfg.name?.startsWith('conversions_record')) seen.push(cfg);
      return original(cfg);
    };
  });
  afterAll(() => {
    pool.query = original;
  });

  /** The worker port that holds the shard of `clickId`. */
  const portOf = async (clickId: string): Promise<number> => {
    const [r] = (await ds.query(
      `SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('clicks', $1::varchar)`,
      [clickId],
    )) as { nodeport: number }[];
    return Number(r.nodeport);
  };

  it('runs each conversion of a concurrent burst on many clicks as a router query on its click’s worker', async () => {
    const clicks = await Promise.all(Array.from({ length: 12 }, () => makeClick(api, f)));
    seen.length = 0;
    const answers = await Promise.all(
      clicks.flatMap((c) => [
        api.post('/api/conversion', conversionBody(c, { order_id: 'o-1' }), f.partnerKey),
        api.post('/api/conversion', conversionBody(c, { order_id: 'o-1' }), f.partnerKey),
      ]),
    );
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.filter((a) => a.body.status === 'ok')).toHaveLength(12);
    // The clicks span both workers, so a batch of them spans shards.
    const ports = new Set(await Promise.all(clicks.map(portOf)));
    expect(ports.size).toBe(2);

    expect(seen.length).toBeGreaterThanOrEqual(24);
    for (const cfg of seen) {
      const plan = (await original({ text: `EXPLAIN ${cfg.text}`, values: cfg.values })).rows
        .map((r) => (r as { 'QUERY PLAN': string })['QUERY PLAN'])
        .join('\n');
      expect(plan).toContain('Custom Scan (Citus Adaptive)');
      expect(plan).toMatch(/Task Count: 1\b/);
      expect(plan).not.toMatch(/Distributed Subplan|Task Count: (?!1\b)\d+/);
      // The one task runs on the worker holding the click's shard.
      const clickId = cfg.values[CLICK_PARAM(cfg)] as string;
      expect(plan).toContain(`port=${await portOf(clickId)}`);
    }
  });

  it('loses no acknowledged conversion while its click’s shard group moves to the other worker', async () => {
    const click = await makeClick(api, f);
    const [from] = (await ds.query(
      `SELECT shardid::text AS shard, nodename AS host, nodeport AS port FROM pg_dist_shard_placement
        WHERE shardid = get_shard_id_for_distribution_column('clicks', $1::varchar)`,
      [click],
    )) as { shard: string; host: string; port: number }[];
    const [to] = (await ds.query(
      `SELECT nodename AS host, nodeport AS port FROM pg_dist_node
        WHERE noderole = 'primary' AND shouldhaveshards AND groupid <> 0 AND nodeport <> $1 LIMIT 1`,
      [from.port],
    )) as { host: string; port: number }[];
    // Eight clients write conversions on the click (its shard) one after another until the move
    // (the copy of the whole shard group, writes blocked: wal_level = replica here) has returned.
    let moving = true;
    let seq = 0;
    const answers: { status: number; body: { status?: string; conversion_id?: string } }[] = [];
    const client = async (): Promise<void> => {
      while (moving) {
        const r = await api.post('/api/conversion', conversionBody(click, { order_id: `mv-${seq++}` }), f.partnerKey);
        answers.push(r as (typeof answers)[number]);
      }
    };
    const clients = Array.from({ length: 8 }, client);
    // On a connection of its own: the move outlasts the service's statement timeout.
    const mover = new Client({ connectionString: TEST_DATABASE_URL });
    try {
      await mover.connect();
      await new Promise((r) => setTimeout(r, 300));
      await mover.query(
        `SELECT citus_move_shard_placement($1::bigint, $2, $3, $4, $5, shard_transfer_mode => 'block_writes')`,
        [from.shard, from.host, from.port, to.host, to.port],
      );
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      moving = false;
      await Promise.all(clients);
      await mover.end();
    }
    expect(await portOf(click)).toBe(Number(to.port));
    // Never a 500; every `ok` is a row (before the fix, the ones written during the copy were lost
    // with the old placement).
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    const oks = answers.filter((a) => a.status === 200 && a.body.status === 'ok').map((a) => a.body.conversion_id);
    expect(oks.length).toBeGreaterThan(8);
    const rows = (await ds.query('SELECT id FROM conversions WHERE click_id = $1', [click])) as { id: string }[];
    const ids = new Set(rows.map((r) => r.id));
    expect(oks.filter((id) => !ids.has(id!))).toEqual([]);
  }, 60_000);

  /** The index of the click id among a recorded statement's values (the one that names a click of this spec). */
  const CLICK_PARAM = (cfg: QueryConfig): number =>
    cfg.values.findIndex((v) => typeof v === 'string' && v.startsWith('clk_'));
});
