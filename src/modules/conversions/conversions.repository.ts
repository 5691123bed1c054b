import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqliteTime } from '../../database/column-types';
import type { ConversionSource, DedupLayer } from './conversion.entity';

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

const COLUMNS =
  'id, partner_id, tag_id, click_id, bid_id, source, event_type, conversion_time, conversion_value, currency, ' +
  'order_id, event_id, dedup_key, dedup_layer, page_url, referrer, user_agent, session_id, client_id, params, created_at';

/*
 * PostgreSQL, the common case, in one round trip: a statement prepared once per connection (a
 * named statement) reads the click and, only when the click is the caller's partner's and has a
 * bid, claims the dedup key and inserts the row. A claim already held inside the window is read in
 * the same statement, so a retry (a duplicate) is answered in that one round trip too.
 *
 * The claim is `INSERT … ON CONFLICT DO NOTHING`: a free key is ours; a key already claimed is
 * left alone, without taking a row lock or writing anything, so retries and a crowd on one key do
 * not queue behind each other's commits. Concurrent first claims of one key serialise on the
 * primary key of dedup_claims: exactly one inserts; the others wait for it and find the conflict.
 *
 * This statement is deliberately small (PostgreSQL initialises every node of a plan on every
 * execution; the full statement below costs about a quarter more database CPU). What it cannot
 * answer, it leaves to PG_RECORD: a claim that has left the window (to be taken over), or a claim
 * committed by a concurrent request after this statement's snapshot was taken (`held_id` reads the
 * snapshot, so it cannot name it).
 */
const PG_RECORD_FAST = `
WITH a AS (
  SELECT click_id, partner_id, tag_id, bid_id FROM clicks WHERE click_id = $1::varchar
), claim AS (
  INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at)
  SELECT $3::varchar, a.click_id, $4::varchar, $5::varchar, $6::bigint FROM a
  WHERE a.partner_id = $2::varchar AND a.bid_id IS NOT NULL AND $3::varchar IS NOT NULL
  ON CONFLICT (dedup_key, click_id, event_type) DO NOTHING
  RETURNING conversion_id
), ins AS (
  INSERT INTO conversions (${COLUMNS})
  SELECT $5::varchar, a.partner_id, COALESCE($8::varchar, a.tag_id), a.click_id, a.bid_id, $9::varchar, $4::varchar,
         $10::timestamptz, $11::numeric, $12::varchar, $13::varchar, $14::varchar, $3::varchar, $15::varchar,
         $16::varchar, $17::varchar, $18::varchar, $19::varchar, $20::varchar, $21::json, $22::timestamptz
  FROM a
  WHERE a.partner_id = $2::varchar AND a.bid_id IS NOT NULL AND ($3::varchar IS NULL OR EXISTS (SELECT 1 FROM claim))
  RETURNING id
)
SELECT a.click_id IS NOT NULL AS found, a.partner_id, a.bid_id IS NOT NULL AS has_bid,
       (SELECT id FROM ins) AS inserted_id,
       (SELECT conversion_id FROM dedup_claims
        WHERE $3::varchar IS NOT NULL AND dedup_key = $3::varchar AND click_id = $1::varchar AND event_type = $4::varchar
          AND claimed_at > $7::bigint) AS held_id
FROM (SELECT 1) AS one LEFT JOIN a ON true`;

/*
 * PostgreSQL, the rare cases (see PG_RECORD_FAST): the whole decision in one statement.
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
  transaction<T>(fn: () => T): { immediate(): T };
}

@Injectable()
export class ConversionsRepository {
  private readonly isPostgres: boolean;
  private sqlite?: {
    db: SqliteDb;
    click: ReturnType<SqliteDb['prepare']>;
    held: ReturnType<SqliteDb['prepare']>;
    claim: ReturnType<SqliteDb['prepare']>;
    insert: ReturnType<SqliteDb['prepare']>;
  };

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.isPostgres = ds.options.type === 'postgres';
  }

  /** Checks the click, claims the dedup key and writes the row, atomically. */
  async recordAtomically(n: NewConversion, windowStartMs: number): Promise<RecordOutcome> {
    return this.isPostgres ? this.recordPostgres(n, windowStartMs) : this.recordSqlite(n, windowStartMs);
  }

  private async recordPostgres(n: NewConversion, windowStartMs: number): Promise<RecordOutcome> {
    // TypeORM's query runner costs a pool checkout, logging hooks and result mapping per call; the
    // driver's pg Pool runs the named statement directly (parsed and planned once per connection).
    const pool = (this.ds.driver as unknown as { master?: PgPool }).master;
    const values = [
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
    const run = async (name: string, text: string): Promise<Record<string, unknown>> =>
      pool?.query
        ? (await pool.query({ name, text, values })).rows[0]
        : ((await this.ds.query(text, values)) as Record<string, unknown>[])[0]; // no pg Pool (a replication setup): TypeORM's path
    const clickFacts = (r: Record<string, unknown>): RecordOutcome['click'] => ({
      found: !!r.found,
      partner_id: (r.partner_id as string) ?? null,
      has_bid: !!r.has_bid,
    });
    const fast = await run('conversions_record_fast', PG_RECORD_FAST);
    const first: RecordOutcome = {
      click: clickFacts(fast),
      claimed_id: ((fast.inserted_id ?? fast.held_id) as string) ?? null,
      inserted_id: (fast.inserted_id as string) ?? null,
    };
    if (!this.undecided(first, n)) return first;
    // The key is claimed, but not inside the window as of that statement's snapshot: a claim to
    // take over, or one a concurrent request committed meanwhile. The full statement decides.
    for (let attempt = 1; ; attempt++) {
      const r = await run('conversions_record', PG_RECORD);
      const outcome: RecordOutcome = {
        click: clickFacts(r),
        claimed_id: (r.claimed_id as string) ?? null,
        inserted_id: (r.inserted_id as string) ?? null,
      };
      if (!this.undecided(outcome, n) || attempt >= PG_RACE_ATTEMPTS) return outcome;
    }
  }

  /** Attributable and keyed, yet nothing written and no claim named: a statement that lost a race. */
  private undecided(o: RecordOutcome, n: NewConversion): boolean {
    const attributable = o.click.found && o.click.partner_id === n.partner_id && o.click.has_bid;
    return attributable && n.dedup_key !== null && !o.claimed_id && !o.inserted_id;
  }

  /*
   * SQLite: better-sqlite3 is synchronous, so the transaction below runs to its end before any
   * other request's statement in this process can start. It is BEGIN IMMEDIATE, so a second
   * process sharing the file waits for the write lock (busy timeout) instead of failing on a stale
   * read snapshot: the same guarantees as the PostgreSQL statement.
   */
  private async recordSqlite(n: NewConversion, windowStartMs: number): Promise<RecordOutcome> {
    const s = this.sqliteStatements();
    return s.db.transaction((): RecordOutcome => {
      const click = s.click.get(n.click_id) as { partner_id: string; tag_id: string; bid_id: string | null } | undefined;
      const facts = { found: !!click, partner_id: click?.partner_id ?? null, has_bid: click?.bid_id != null };
      if (!click || click.partner_id !== n.partner_id || click.bid_id == null) {
        return { click: facts, claimed_id: null, inserted_id: null };
      }
      let claimedId: string | null = null;
      if (n.dedup_key !== null) {
        // A claim inside the window is a duplicate: answered without writing (no WAL frame to commit).
        const held = s.held.get(n.dedup_key, n.click_id, n.event_type) as { conversion_id: string; claimed_at: number | string } | undefined;
        if (held && Number(held.claimed_at) > windowStartMs) return { click: facts, claimed_id: held.conversion_id, inserted_id: null };
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
    }).immediate();
  }

  private sqliteStatements() {
    if (!this.sqlite) {
      const db = (this.ds.driver as unknown as { databaseConnection: SqliteDb }).databaseConnection;
      this.sqlite = {
        db,
        click: db.prepare('SELECT partner_id, tag_id, bid_id FROM clicks WHERE click_id = ?'),
        held: db.prepare('SELECT conversion_id, claimed_at FROM dedup_claims WHERE dedup_key = ? AND click_id = ? AND event_type = ?'),
        claim: db.prepare(
          `INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at) VALUES (@key, @click, @event, @id, @at)
           ON CONFLICT (dedup_key, click_id, event_type) DO UPDATE SET
             conversion_id = CASE WHEN claimed_at <= @windowStart THEN excluded.conversion_id ELSE conversion_id END,
             claimed_at = CASE WHEN claimed_at <= @windowStart THEN excluded.claimed_at ELSE claimed_at END
           RETURNING conversion_id`,
        ),
        insert: db.prepare(`INSERT INTO conversions (${COLUMNS}) VALUES (${Array(21).fill('?').join(', ')})`),
      };
    }
    return this.sqlite;
  }
}
