import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { databaseUnavailable } from '../../common/db-errors';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { sqliteTime } from '../../database/column-types';
import { WriteBatcher } from '../../database/write-batcher';
import { CONVERSION_COLUMNS, type ConversionSource, type DedupLayer } from './conversion.entity';

/** Everything one conversion row needs, already validated and normalised. */
export interface NewConversion {
  id: string;
  partner_id: string;
  /** The caller's tag override; the click's tag when null. */
  tag_id: string | null;
  click_id: string;
  source: ConversionSource;
  event_type: string;
  conversion_time: Date;
  conversion_value: string;
  currency: string;
  order_id: string | null;
  event_id: string | null;
  dedup_key: string | null;
  dedup_layer: DedupLayer | null;
  page_url: string | null;
  referrer: string | null;
  user_agent: string | null;
  session_id: string | null;
  client_id: string | null;
  params: object;
  created_at: Date;
}

export interface RecordOutcome {
  click: { found: boolean; partner_id: string | null; has_bid: boolean };
  /** The conversion id the dedup claim now points to (ours when we won it); null without a key. */
  claimed_id: string | null;
  /** Our id when the row was written. */
  inserted_id: string | null;
}

const COLUMNS = CONVERSION_COLUMNS.join(', ');

/*
 * PostgreSQL, the common case: one statement, prepared once per connection (a named statement),
 * for one conversion or for several that arrived together (see WriteBatcher): one round trip and
 * one commit for all. For each input row it reads the click and, only when the click is the
 * caller's partner's and has a bid, claims the dedup key and inserts the row; a claim already held
 * inside the window is read in the same statement, so a retry (a duplicate) is answered in that
 * one round trip too.
 *
 * The claim is `INSERT … ON CONFLICT DO NOTHING`: a free key is ours; a key already claimed is
 * left alone, without taking a row lock or writing anything, so retries and a crowd on one key do
 * not queue behind each other's commits. Concurrent first claims of one key serialise on the
 * primary key of dedup_claims: exactly one inserts; the others wait for it and find the conflict.
 * Claims are inserted in key order, so two batches that share keys take them in the same order and
 * cannot deadlock; the second of two rows of one batch with the same key finds the first's claim
 * and inserts nothing (recordPostgresBatch answers it as a duplicate of the first). The statement
 * is atomic: when it fails, nothing of the batch was written.
 *
 * It is deliberately small (PostgreSQL initialises every node of a plan on every execution; the
 * full statement below costs about a quarter more database CPU). What it cannot answer, it leaves
 * to PG_RECORD: a claim that has left the window (to be taken over), or a claim committed by a
 * concurrent request after this statement's snapshot was taken (`held_id` reads the snapshot, so
 * it cannot name it). The click and the held claim are looked up per row (a LATERAL subquery kept
 * apart by OFFSET 0, a correlated subquery), so the plan, made once per connection while the
 * tables may still be small, stays index lookups as they grow.
 */
const PG_RECORD_BATCH = `
WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::bigint[], $7::bigint[],
    $8::varchar[], $9::varchar[], $10::timestamptz[], $11::numeric[], $12::varchar[], $13::varchar[], $14::varchar[], $15::varchar[],
    $16::varchar[], $17::varchar[], $18::varchar[], $19::varchar[], $20::varchar[], $21::json[], $22::timestamptz[])
    WITH ORDINALITY AS i(click_id, partner_id, dedup_key, event_type, id, claimed_at, window_start, tag_id, source,
      conversion_time, conversion_value, currency, order_id, event_id, dedup_layer, page_url, referrer, user_agent,
      session_id, client_id, params, created_at, ord)
), a AS (
  SELECT i.*, c.click_id IS NOT NULL AS found, c.partner_id AS click_partner_id, c.tag_id AS click_tag_id, c.bid_id,
         (c.partner_id = i.partner_id AND c.bid_id IS NOT NULL) AS attributable
  FROM input i
  LEFT JOIN LATERAL (SELECT click_id, partner_id, tag_id, bid_id FROM clicks WHERE clicks.click_id = i.click_id OFFSET 0) c ON true
), claim AS (
  INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at)
  SELECT dedup_key, click_id, event_type, id, claimed_at FROM a
  WHERE attributable AND dedup_key IS NOT NULL
  ORDER BY dedup_key, click_id, event_type, ord
  ON CONFLICT (dedup_key, click_id, event_type) DO NOTHING
  RETURNING conversion_id
), ins AS (
  INSERT INTO conversions (${COLUMNS})
  SELECT a.id, a.click_partner_id, COALESCE(a.tag_id, a.click_tag_id), a.click_id, a.bid_id, a.source, a.event_type,
         a.conversion_time, a.conversion_value, a.currency, a.order_id, a.event_id, a.dedup_key, a.dedup_layer,
         a.page_url, a.referrer, a.user_agent, a.session_id, a.client_id, a.params, a.created_at
  FROM a
  WHERE attributable AND (a.dedup_key IS NULL OR a.id IN (SELECT conversion_id FROM claim))
  RETURNING id
)
SELECT a.ord, a.found, a.click_partner_id AS partner_id, a.bid_id IS NOT NULL AS has_bid, ins.id AS inserted_id,
       (SELECT h.conversion_id FROM dedup_claims h
        WHERE a.dedup_key IS NOT NULL AND h.dedup_key = a.dedup_key AND h.click_id = a.click_id AND h.event_type = a.event_type
          AND h.claimed_at > a.window_start) AS held_id
FROM a LEFT JOIN ins ON ins.id = a.id
ORDER BY a.ord`;

/*
 * PostgreSQL, the rare cases (see PG_RECORD_BATCH): the whole decision in one statement.
 * It reads the click, and only when the click is the caller's partner's and has a bid, claims the
 * dedup key and inserts the row.
 *
 * The claim is `INSERT … ON CONFLICT DO NOTHING`: a free key is ours; a key already claimed is
 * left alone, without taking a row lock or writing anything, so retries and a crowd on one key do
 * not queue behind each other's commits. Only a claim that has left the window is taken over, by
 * an UPDATE that re-checks `claimed_at` under the row lock, so exactly one of several concurrent
 * takeovers wins. Concurrent first claims of one key serialise on the primary key of
 * dedup_claims: exactly one inserts; the others wait for it and find the conflict.
 *
 * `held` reads the claim as of the statement's snapshot, which may predate a claim committed by a
 * concurrent request we waited for; then no claim id can be named and the statement, which wrote
 * nothing, is run again (see recordPostgres).
 */
const PG_RECORD = `
WITH c AS (
  SELECT click_id, partner_id, tag_id, bid_id FROM clicks WHERE click_id = $1::varchar
), a AS (
  SELECT * FROM c WHERE partner_id = $2::varchar AND bid_id IS NOT NULL
), claim AS (
  INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at)
  SELECT $3::varchar, a.click_id, $4::varchar, $5::varchar, $6::bigint FROM a WHERE $3::varchar IS NOT NULL
  ON CONFLICT (dedup_key, click_id, event_type) DO NOTHING
  RETURNING conversion_id
), held AS (
  SELECT conversion_id, claimed_at FROM dedup_claims
  WHERE $3::varchar IS NOT NULL AND dedup_key = $3::varchar AND click_id = $1::varchar AND event_type = $4::varchar
), takeover AS (
  UPDATE dedup_claims SET conversion_id = $5::varchar, claimed_at = $6::bigint
  WHERE dedup_key = $3::varchar AND click_id = $1::varchar AND event_type = $4::varchar AND claimed_at <= $7::bigint
    AND EXISTS (SELECT 1 FROM a) AND EXISTS (SELECT 1 FROM held WHERE held.claimed_at <= $7::bigint)
  RETURNING conversion_id
), won AS (
  SELECT conversion_id FROM claim UNION ALL SELECT conversion_id FROM takeover
), ins AS (
  INSERT INTO conversions (${COLUMNS})
  SELECT $5::varchar, a.partner_id, COALESCE($8::varchar, a.tag_id), a.click_id, a.bid_id, $9::varchar, $4::varchar,
         $10::timestamptz, $11::numeric, $12::varchar, $13::varchar, $14::varchar, $3::varchar, $15::varchar,
         $16::varchar, $17::varchar, $18::varchar, $19::varchar, $20::varchar, $21::json, $22::timestamptz
  FROM a
  WHERE $3::varchar IS NULL OR EXISTS (SELECT 1 FROM won WHERE won.conversion_id = $5::varchar)
  RETURNING id
)
SELECT c.click_id IS NOT NULL AS found, c.partner_id, c.bid_id IS NOT NULL AS has_bid,
       COALESCE((SELECT conversion_id FROM won), (SELECT conversion_id FROM held WHERE held.claimed_at > $7::bigint)) AS claimed_id,
       (SELECT id FROM ins) AS inserted_id
FROM (SELECT 1) AS one LEFT JOIN c ON true`;

/** How many times a statement that lost a race to a concurrent claim (and wrote nothing) is run again. */
const PG_RACE_ATTEMPTS = 5;

/** The part of pg's Pool the hot path uses. */
interface PgPool {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[] }>;
}

interface SqliteDb {
  prepare(sql: string): { get(...p: unknown[]): unknown; run(...p: unknown[]): unknown };
  /** Called inside another transaction, better-sqlite3 runs `fn` in a savepoint. */
  transaction<T>(fn: () => T): { (): T; immediate(): T };
}

/**
 * How many batches of conversions may be in the database at once, and how large one may be. Two
 * (one running while the next gathers) measured best on the benchmark machine; 1 to 8 were tried.
 */
const PG_BATCHES_IN_FLIGHT = 2;
const PG_BATCH_MAX = 64;
const SQLITE_BATCH_MAX = 128;

/** SQLSTATE classes that name a problem of one row or of the batch's timing, not of the database. */
const ROW_LEVEL_SQLSTATE = /^(22|23|40)/;

interface BatchItem {
  n: NewConversion;
  windowStartMs: number;
}

/** The 22 parameters every PostgreSQL statement of this file takes, in order. */
function pgValues(n: NewConversion, windowStartMs: number): unknown[] {
  return [
    n.click_id,
    n.partner_id,
    n.dedup_key,
    n.event_type,
    n.id,
    n.created_at.getTime(),
    windowStartMs,
    n.tag_id,
    n.source,
    n.conversion_time.toISOString(),
    n.conversion_value,
    n.currency,
    n.order_id,
    n.event_id,
    n.dedup_layer,
    n.page_url,
    n.referrer,
    n.user_agent,
    n.session_id,
    n.client_id,
    JSON.stringify(n.params),
    n.created_at.toISOString(),
  ];
}

function clickFacts(r: Record<string, unknown>): RecordOutcome['click'] {
  return { found: !!r.found, partner_id: (r.partner_id as string) ?? null, has_bid: !!r.has_bid };
}

/** What a dedup claim is unique on. */
function claimKey(n: NewConversion): string {
  return JSON.stringify([n.dedup_key, n.click_id, n.event_type]);
}

@Injectable()
export class ConversionsRepository {
  /** Gathers the conversions that arrive together into one statement (PostgreSQL) or transaction (SQLite). */
  private readonly batcher: WriteBatcher<BatchItem, RecordOutcome>;
  private sqlite?: {
    db: SqliteDb;
    click: ReturnType<SqliteDb['prepare']>;
    held: ReturnType<SqliteDb['prepare']>;
    claim: ReturnType<SqliteDb['prepare']>;
    insert: ReturnType<SqliteDb['prepare']>;
  };

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) config: Pick<AppConfig, 'dbPoolSize' | 'dbConnectTimeoutMs'>,
  ) {
    const limits = {
      // A conversion waits for a batch slot no longer than a query waits for a pooled connection.
      maxWaitMs: config.dbConnectTimeoutMs,
      timeoutError: databaseUnavailable,
    };
    this.batcher =
      ds.options.type === 'postgres'
        ? new WriteBatcher((items) => this.recordPostgresBatch(items), {
            ...limits,
            maxInFlight: Math.min(PG_BATCHES_IN_FLIGHT, config.dbPoolSize),
            maxBatch: PG_BATCH_MAX,
          })
        : // better-sqlite3 is synchronous: one transaction at a time, in this thread.
          new WriteBatcher(async (items) => this.recordSqliteBatch(items), {
            ...limits,
            maxInFlight: 1,
            maxBatch: SQLITE_BATCH_MAX,
          });
  }

  /** Checks the click, claims the dedup key and writes the row, atomically. */
  async recordAtomically(n: NewConversion, windowStartMs: number): Promise<RecordOutcome> {
    return this.batcher.submit({ n, windowStartMs });
  }

  /**
   * Runs a named statement. TypeORM's query runner costs a pool checkout, logging hooks and result
   * mapping per call; the driver's pg Pool runs it directly (parsed and planned once per
   * connection). Without a pg Pool (a replication setup), TypeORM's path.
   */
  private async query(name: string, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    const pool = (this.ds.driver as unknown as { master?: PgPool }).master;
    return pool?.query
      ? (await pool.query({ name, text, values })).rows
      : ((await this.ds.query(text, values)) as Record<string, unknown>[]);
  }

  /**
   * The key is claimed, but not inside the window as of the batch statement's snapshot: a claim to
   * take over, or one a concurrent request committed meanwhile. The full statement decides.
   */
  private async recordPostgresFull(n: NewConversion, windowStartMs: number): Promise<RecordOutcome> {
    for (let attempt = 1; ; attempt++) {
      const [r] = await this.query('conversions_record', PG_RECORD, pgValues(n, windowStartMs));
      const outcome: RecordOutcome = {
        click: clickFacts(r),
        claimed_id: (r.claimed_id as string) ?? null,
        inserted_id: (r.inserted_id as string) ?? null,
      };
      if (!this.undecided(outcome, n) || attempt >= PG_RACE_ATTEMPTS) return outcome;
    }
  }

  private async recordPostgresBatch(items: BatchItem[]): Promise<PromiseSettledResult<RecordOutcome>[]> {
    const columns: unknown[][] = Array.from({ length: 22 }, () => new Array<unknown>(items.length));
    items.forEach((it, i) => pgValues(it.n, it.windowStartMs).forEach((v, c) => (columns[c][i] = v)));
    let rows: Record<string, unknown>[];
    try {
      rows = await this.query('conversions_record_batch', PG_RECORD_BATCH, columns);
    } catch (e) {
      // A problem of one row (bad data, a constraint) or a deadlock: the batch wrote nothing, so each
      // conversion is tried on its own and answered for itself. Anything else (the database away or
      // too slow) is every conversion's answer.
      if (items.length > 1 && ROW_LEVEL_SQLSTATE.test(String((e as { code?: unknown }).code ?? ''))) {
        return (await Promise.all(items.map((it) => this.recordPostgresBatch([it])))).flat();
      }
      throw e;
    }
    // One row per input row, matched by its ordinal (1-based), not by position.
    const byOrd = new Map(rows.map((r) => [Number(r.ord), r]));
    const outcomes: (RecordOutcome | null)[] = items.map((it, i) => {
      const r = byOrd.get(i + 1);
      return r
        ? {
            click: clickFacts(r),
            claimed_id: ((r.inserted_id ?? r.held_id) as string) ?? null,
            inserted_id: (r.inserted_id as string) ?? null,
          }
        : null;
    });
    // The second of two conversions of this batch with one key: a duplicate of the first.
    const winners = new Map<string, string>();
    items.forEach(
      (it, i) =>
        outcomes[i]?.inserted_id && it.n.dedup_key !== null && winners.set(claimKey(it.n), outcomes[i]!.inserted_id!),
    );
    return Promise.allSettled(
      items.map(async (it, i) => {
        const o = outcomes[i];
        if (!o) throw new Error(`the batch statement answered no row for input ${i + 1} of ${items.length}`); // cannot happen: a bug, a 500
        if (!this.undecided(o, it.n)) return o;
        const sibling = winners.get(claimKey(it.n));
        if (sibling) return { ...o, claimed_id: sibling };
        return this.recordPostgresFull(it.n, it.windowStartMs);
      }),
    );
  }

  /** Attributable and keyed, yet nothing written and no claim named: a statement that lost a race. */
  private undecided(o: RecordOutcome, n: NewConversion): boolean {
    const attributable = o.click.found && o.click.partner_id === n.partner_id && o.click.has_bid;
    return attributable && n.dedup_key !== null && !o.claimed_id && !o.inserted_id;
  }

  /*
   * SQLite: better-sqlite3 is synchronous, so a transaction runs to its end before any other
   * request's statement in this process can start. It is BEGIN IMMEDIATE, so a second process
   * sharing the file waits for the write lock (busy timeout) instead of failing on a stale read
   * snapshot: the same guarantees as the PostgreSQL statement.
   *
   * The conversions that arrive in one event-loop turn share one transaction (one commit, one
   * append to the WAL), each inside its own savepoint: a conversion that fails is rolled back
   * alone and answered for itself; the others are committed together.
   */
  private recordSqliteBatch(items: BatchItem[]): PromiseSettledResult<RecordOutcome>[] {
    const s = this.sqliteStatements();
    return s.db
      .transaction(() =>
        items.map((it): PromiseSettledResult<RecordOutcome> => {
          try {
            return {
              status: 'fulfilled',
              value: s.db.transaction(() => this.recordSqliteOne(s, it.n, it.windowStartMs))(),
            };
          } catch (reason) {
            return { status: 'rejected', reason };
          }
        }),
      )
      .immediate();
  }

  private recordSqliteOne(
    s: ReturnType<ConversionsRepository['sqliteStatements']>,
    n: NewConversion,
    windowStartMs: number,
  ): RecordOutcome {
    const click = s.click.get(n.click_id) as { partner_id: string; tag_id: string; bid_id: string | null } | undefined;
    const facts = { found: !!click, partner_id: click?.partner_id ?? null, has_bid: click?.bid_id != null };
    if (!click || click.partner_id !== n.partner_id || click.bid_id == null) {
      return { click: facts, claimed_id: null, inserted_id: null };
    }
    let claimedId: string | null = null;
    if (n.dedup_key !== null) {
      // A claim inside the window is a duplicate: answered without writing (no WAL frame to commit).
      const held = s.held.get(n.dedup_key, n.click_id, n.event_type) as
        { conversion_id: string; claimed_at: number | string } | undefined;
      if (held && Number(held.claimed_at) > windowStartMs)
        return { click: facts, claimed_id: held.conversion_id, inserted_id: null };
      const row = s.claim.get({
        key: n.dedup_key,
        click: n.click_id,
        event: n.event_type,
        id: n.id,
        at: n.created_at.getTime(),
        windowStart: windowStartMs,
      }) as {
        conversion_id: string;
      };
      claimedId = row.conversion_id;
      if (claimedId !== n.id) return { click: facts, claimed_id: claimedId, inserted_id: null };
    }
    s.insert.run(
      n.id,
      n.partner_id,
      n.tag_id ?? click.tag_id,
      n.click_id,
      click.bid_id,
      n.source,
      n.event_type,
      sqliteTime(n.conversion_time),
      n.conversion_value,
      n.currency,
      n.order_id,
      n.event_id,
      n.dedup_key,
      n.dedup_layer,
      n.page_url,
      n.referrer,
      n.user_agent,
      n.session_id,
      n.client_id,
      JSON.stringify(n.params),
      sqliteTime(n.created_at),
    );
    return { click: facts, claimed_id: claimedId, inserted_id: n.id };
  }

  private sqliteStatements() {
    if (!this.sqlite) {
      const db = (this.ds.driver as unknown as { databaseConnection: SqliteDb }).databaseConnection;
      this.sqlite = {
        db,
        click: db.prepare('SELECT partner_id, tag_id, bid_id FROM clicks WHERE click_id = ?'),
        held: db.prepare(
          'SELECT conversion_id, claimed_at FROM dedup_claims WHERE dedup_key = ? AND click_id = ? AND event_type = ?',
        ),
        claim: db.prepare(
          `INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at) VALUES (@key, @click, @event, @id, @at)
           ON CONFLICT (dedup_key, click_id, event_type) DO UPDATE SET
             conversion_id = CASE WHEN claimed_at <= @windowStart THEN excluded.conversion_id ELSE conversion_id END,
             claimed_at = CASE WHEN claimed_at <= @windowStart THEN excluded.claimed_at ELSE claimed_at END
           RETURNING conversion_id`,
        ),
        insert: db.prepare(
          `INSERT INTO conversions (${COLUMNS}) VALUES (${CONVERSION_COLUMNS.map(() => '?').join(', ')})`,
        ),
      };
    }
    return this.sqlite;
  }
}
