import { createHash } from 'node:crypto';
import { trackIngest } from '../../common/ingest-load';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { databaseUnavailable } from '../../common/db-errors';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { fromDbTime } from '../../database/column-types';
import {
  Dialect,
  NamedStatement,
  Param,
  PgParams,
  prepareNamed,
  SqliteHandle,
  sqliteParams,
} from '../../database/dialect';
import { WriteBatcher } from '../../database/write-batcher';
import {
  ATTRIBUTION_CLICK_COLUMNS,
  attributableSql,
  ClickColumn,
  ClickFacts,
  clickFactsOf,
  clickFactsSql,
  clickLookupSql,
  isAttributable,
} from '../clicks/click-attribution';
import {
  CLAIM_TIMING_PARAMS,
  ClaimExprs,
  isWithinWindow,
  pgClaimCtes,
  pgClaimedId,
  pgClaimInsert,
  pgClaimWon,
  pgHeldId,
  sqliteClaim,
  sqliteHeld,
  withinWindowSql,
} from '../dedup/dedup-claim.sql';
import { pgOutboxInsert, sqliteOutboxInsert, WebhookOutbox } from '../webhook-outbox/webhook-outbox';
import {
  ATTRIBUTION_TIME_PARAMS,
  attributionAcceptedSql,
  AttributionStatus,
  attributionStatusOf,
  attributionStatusSql,
  AttributionTiming,
  isRefusedByPolicy,
} from './attribution-time';
import {
  CONVERSION_COLUMNS,
  CONVERSION_WRITE,
  ConversionColumn,
  ConversionSource,
  NewConversion,
} from './conversion.entity';

export type { NewConversion };

/** The conversion a duplicate matched, as it was before this request (its money fields and source). */
export interface MatchedConversion {
  /** Canonical decimal (no trailing zeros), as NewConversion holds it. */
  conversion_value: string;
  currency: string;
  conversion_time: Date;
  tag_id: string;
  source: ConversionSource;
}

export interface RecordOutcome {
  click: ClickFacts;
  /** The conversion id the dedup claim now points to (ours when we won it); null without a key. */
  claimed_id: string | null;
  /** Our id when the row was written. */
  inserted_id: string | null;
  /** For a duplicate: the conversion it matched, read in the same statement; null when not known. */
  matched?: MatchedConversion | null;
  /** The tag this conversion writes (its override, else the click's). */
  tag_id?: string | null;
  /** This server conversion replaced the values of the Tag conversion that held the claim. */
  superseded?: boolean;
  /** The attribution-time verdict the statement computed (null when the click is not attributable). */
  attribution_status: AttributionStatus | null;
}

/** One conversion to record, with the start of its dedup window (epoch ms) and its attribution-time inputs. */
interface BatchItem {
  n: NewConversion;
  windowStartMs: number;
  timing: AttributionTiming;
}

/** The click's columns and what the statement derives from them (the attribution verdict). */
type StatementColumn = (name: Parameters<ClickColumn>[0] | 'attribution_status') => string;

/**
 * The parameters of every write statement, generated from the conversion's columns
 * (CONVERSION_WRITE) and Dedup's claim timing; each statement names them, never counts them.
 */
const INPUTS: readonly Param<BatchItem>[] = [
  ...CONVERSION_WRITE.filter((c) => c.value).map((c): Param<BatchItem> => ({
    name: c.column,
    pgType: c.pgType,
    value: (it) => c.value!(it.n),
  })),
  ...CLAIM_TIMING_PARAMS.map((p): Param<BatchItem> => ({
    ...p,
    value: (it) => p.value({ claimedAtMs: it.n.created_at.getTime(), windowStartMs: it.windowStartMs }),
  })),
  ...ATTRIBUTION_TIME_PARAMS.map((p): Param<BatchItem> => ({ ...p, value: (it) => p.value(it.timing) })),
];

/** The claim's parts, as columns of a relation holding INPUTS under their names. */
const claimOf = (col: (name: string) => string): ClaimExprs => ({
  key: col('dedup_key'),
  click: col('click_id'),
  event: col('event_type'),
  conversionId: col('id'),
  claimedAt: col('claimed_at'),
  windowStart: col('window_start'),
});

/** The expression written to a column: the input, the click's, or the input unless null. */
function writtenExpr(c: ConversionColumn, input: (name: string) => string, click: StatementColumn): string {
  if (c.value && c.fromClick) return `COALESCE(${input(c.column)}, ${click(c.fromClick)})`;
  return c.value ? input(c.column) : click(c.fromClick!);
}

/** `INSERT INTO conversions (…) SELECT|VALUES …`: the column list and the written expressions, from one list. */
function insertConversion(input: (name: string) => string, click: StatementColumn): { columns: string; exprs: string } {
  return {
    columns: CONVERSION_COLUMNS.join(', '),
    exprs: CONVERSION_WRITE.map((c) => writtenExpr(c, input, click)).join(', '),
  };
}

/*
 * Tag vs server precedence: a server conversion (source 'api') that matches a claim held by a Tag
 * conversion (source 'tag') replaces that row's values (the columns marked `superseded` in
 * CONVERSION_WRITE, source and params), keeping the replaced ones in
 * params.superseded = {source, at, values: {column: old value, …, extra: old params.extra}}.
 * It is part of the same statement (PostgreSQL) or transaction (SQLite) as the claim; the UPDATE
 * re-checks `source = 'tag'` under the row lock, so of two concurrent server conversions one
 * supersedes and the other is a plain duplicate.
 */
const SUPERSEDED = CONVERSION_WRITE.filter((c) => c.superseded);

/** A column's old value as kept in params.superseded.values (money as its canonical decimal text, times in ISO UTC). */
function pgOldValue(c: ConversionColumn, t: string): string {
  if (c.pgType === 'numeric') return `trim_scale(${t}.${c.column})::text`;
  if (c.pgType === 'timestamptz') return pgIsoTime(`${t}.${c.column}`);
  return `${t}.${c.column}`;
}
const pgIsoTime = (e: string) => `to_char(${e} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** PostgreSQL: the UPDATE (a CTE) by which the conversion of `input` supersedes the Tag row `heldId`. */
function pgSupersede(
  input: (name: string) => string,
  click: StatementColumn,
  from: string,
  where: string,
  heldId: string,
  returning: string,
): string {
  const set = SUPERSEDED.map((c) => `${c.column} = ${writtenExpr(c, input, click)}`).join(', ');
  const old = SUPERSEDED.map((c) => `'${c.column}', ${pgOldValue(c, 'o')}`).join(', ');
  const row = (alias: string) =>
    `${alias}.click_id = ${input('click_id')} AND ${alias}.id = ${heldId} AND ${alias}.source = 'tag'`;
  // The new params are computed from the Tag row in a FROM subquery that locks it (FOR UPDATE: the
  // latest version, re-checked to be a Tag row), not in the SET list: Citus refuses STABLE
  // functions (to_char, jsonb_build_object) over columns in an UPDATE's own expressions.
  return `UPDATE conversions t SET ${set}, source = ${input('source')}, params = o.new_params
  FROM ${from}, (SELECT (${input('params')}::jsonb || jsonb_build_object('superseded', jsonb_build_object('source', o.source,
      'at', ${pgIsoTime(input('created_at'))}, 'values', jsonb_build_object(${old}, 'extra', o.params::jsonb -> 'extra'))))::json AS new_params
    FROM conversions o WHERE ${row('o')} FOR UPDATE) o
  WHERE ${input('source')} = 'api' AND (${where}) AND ${row('t')}
  RETURNING ${returning}`;
}

/*
 * The conversion a claim names has the claim's click_id: every lookup of it names the click too, so
 * it is a primary-key lookup ((click_id, id)) and, on Citus, stays on the click's shard.
 */

/** Select-list items: the matched conversion `m` (all NULL when there is none). */
const matchedSql = (m: string) =>
  `${m}.conversion_value AS m_conversion_value, ${m}.currency AS m_currency, ${m}.conversion_time AS m_conversion_time, ${m}.tag_id AS m_tag_id, ${m}.source AS m_source`;

const canonicalDecimal = (v: string) => (v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '') : v);

/** The matched conversion of a row selected with `matchedSql` (or SQLite's matched statement, unprefixed). */
function matchedOf(r: Record<string, unknown> | undefined, prefix = 'm_'): MatchedConversion | null {
  if (!r || r[`${prefix}source`] == null) return null;
  return {
    conversion_value: canonicalDecimal(String(r[`${prefix}conversion_value`])),
    currency: r[`${prefix}currency`] as string,
    conversion_time: fromDbTime(r[`${prefix}conversion_time`])!,
    tag_id: r[`${prefix}tag_id`] as string,
    source: r[`${prefix}source`] as ConversionSource,
  };
}

/*
 * PostgreSQL, the common case: one statement, prepared once per connection (a named statement),
 * for one conversion or for several that arrived together (see WriteBatcher): one round trip and
 * one commit for all. For each input row it reads the click and, only when the click is
 * attributable (Clicks' rule), claims the dedup key (Dedup's claim) and inserts the row; a claim
 * already held inside the window is read in the same statement, so a retry (a duplicate) is
 * answered in that one round trip too. The second of two rows of one batch with the same key
 * finds the first's claim and inserts nothing (recordPostgresBatch answers it as a duplicate of the
 * first). The statement is atomic: when it fails, nothing of the batch was written.
 *
 * It is deliberately small (PostgreSQL initialises every node of a plan on every execution; the
 * full statement below costs about a quarter more database CPU). What it cannot answer, it leaves
 * to the full statement: a claim that has left the window (to be taken over), or a claim committed
 * by a concurrent request after this statement's snapshot was taken (`held_id` reads the snapshot,
 * so it cannot name it). The click and the held claim are looked up per row (a LATERAL subquery
 * kept apart by OFFSET 0, a correlated subquery), so the plan, made once per connection while the
 * tables may still be small, stays index lookups as they grow. So is the conversion a duplicate
 * matched (`m`: its fields, for payload_mismatch). A server conversion whose match is a Tag row is
 * left to the full statement, which supersedes it (see SUPERSEDED).
 */
function pgBatchStatement(p: PgParams<BatchItem>, webhooks = false): string {
  const e = claimOf((n) => `a.${n}`);
  const click: StatementColumn = (n) => `a.click_${n}`;
  const ins = insertConversion((n) => `a.${n}`, click);
  const status = attributionStatusSql('c.clicked_at', (n) => `i.${n}`);
  return `
WITH input AS (
  SELECT * FROM ${p.unnest('i')}
), a AS (
  SELECT i.*, ${ATTRIBUTION_CLICK_COLUMNS.map((n) => `c.${n} AS click_${n}`).join(', ')},
         ${status} AS click_attribution_status,
         ${attributableSql((n) => `c.${n}`, 'i.partner_id', 'i.mode')} AND ${attributionAcceptedSql(status, (n) => `i.${n}`)} AS attributable
  FROM input i
  LEFT JOIN LATERAL (${clickLookupSql('i.click_id')} OFFSET 0) c ON true
), claim AS (
  ${pgClaimInsert(e, 'a', 'attributable', 'ord')}
), ins AS (
  INSERT INTO conversions (${ins.columns})
  SELECT ${ins.exprs}
  FROM a
  WHERE attributable AND (a.dedup_key IS NULL OR a.id IN (SELECT conversion_id FROM claim))
  RETURNING ${webhooks ? 'id, click_id, partner_id, created_at, mode' : 'id'}
)${
    webhooks
      ? `, wh AS (
  ${pgOutboxCreated}
)`
      : ''
  }, h AS (
  SELECT a.ord, ${pgHeldId(e)} AS held_id FROM a
)
SELECT a.ord, ${clickFactsSql(click)}, a.click_attribution_status AS attribution_status, ins.id AS inserted_id,
       h.held_id, NULL AS superseded_id, COALESCE(a.tag_id, a.click_tag_id) AS written_tag_id, ${matchedSql('m')}
FROM a JOIN h ON h.ord = a.ord
LEFT JOIN ins ON ins.id = a.id
LEFT JOIN LATERAL (SELECT * FROM conversions WHERE click_id = a.click_id AND id = h.held_id OFFSET 0) m ON true
ORDER BY a.ord`;
}

/*
 * PostgreSQL, the rare cases (see pgBatchStatement): the whole decision for one conversion in one
 * statement, Dedup's full claim (with the takeover of a claim past the window) included. It reads
 * the click, and only when it is attributable, claims the dedup key and inserts the row. When it
 * lost a race to a concurrent first claim it wrote nothing and names no claim; it is run again
 * (see recordPostgresFull).
 */
function pgFullStatement(p: PgParams<BatchItem>): string {
  const e = claimOf((n) => p.ref(n));
  const ins = insertConversion(
    (n) => p.ref(n),
    (n) => `a.${n}`,
  );
  // The claim held inside the window as of the snapshot (not ours: ours is not in the snapshot).
  const heldWithin = `(SELECT conversion_id FROM held WHERE ${withinWindowSql('held.claimed_at', e.windowStart)})`;
  const status = attributionStatusSql('c.clicked_at', (n) => p.ref(n));
  return `
WITH c AS (
  ${clickLookupSql(p.ref('click_id'))}
), a AS (
  SELECT c.*, ${status} AS attribution_status FROM c
  WHERE ${attributableSql((n) => `c.${n}`, p.ref('partner_id'), p.ref('mode'))} AND ${attributionAcceptedSql(status, (n) => p.ref(n))}
), ${pgClaimCtes(e, 'a')}, ins AS (
  INSERT INTO conversions (${ins.columns})
  SELECT ${ins.exprs}
  FROM a
  WHERE ${e.key} IS NULL OR ${pgClaimWon(e)}
  RETURNING id, click_id, partner_id, created_at, mode
), wh AS (
  ${pgOutboxCreated}
), sup AS (
  ${pgSupersede(
    (n) => p.ref(n),
    (n) => `a.${n}`,
    'a',
    `NOT ${pgClaimWon(e)}`,
    heldWithin,
    't.id, t.click_id, t.partner_id, t.mode',
  )}
), whs AS (
  ${pgOutboxInsert('conversion.superseded', 'sup', { click: 'sup.click_id', conversion: 'sup.id', partner: 'sup.partner_id', at: p.ref('created_at'), mode: 'sup.mode' })}
)
SELECT ${clickFactsSql((n) => `c.${n}`)}, ${status} AS attribution_status, ${pgClaimedId(e)} AS claimed_id,
       (SELECT id FROM ins) AS inserted_id, (SELECT id FROM sup) AS superseded_id,
       COALESCE(${p.ref('tag_id')}, c.tag_id) AS written_tag_id, ${matchedSql('m')}
FROM (SELECT 1) AS one LEFT JOIN c ON true
LEFT JOIN LATERAL (SELECT * FROM conversions WHERE click_id = ${p.ref('click_id')} AND id = ${heldWithin} OFFSET 0) m ON true`;
}

/** The outbox CTE of a statement whose `ins` CTE returns the inserted rows (see WebhookOutbox). */
const pgOutboxCreated = pgOutboxInsert('conversion.created', 'ins', {
  click: 'ins.click_id',
  conversion: 'ins.id',
  partner: 'ins.partner_id',
  at: 'ins.created_at',
  mode: 'ins.mode',
});

/**
 * The parameters of the read-only check (validate-only): the click and the claim's key and window
 * (each one named by the statement: PostgreSQL refuses a parameter it cannot type).
 */
const CHECK_PARAMS: ReadonlySet<string> = new Set(['click_id', 'dedup_key', 'event_type', 'window_start']);

/*
 * PostgreSQL, validate-only: what the write statements decide, read and not written. The click's
 * facts (Clicks' rule decides in recordReadOnly) and the claim held inside the window (Dedup's
 * `pgHeldId`, as pgBatchStatement reads it), in one read of one row. A claim past the window reads
 * as none: a real request would take it over and answer `ok`.
 */
function pgCheckStatement(p: PgParams<BatchItem>): string {
  // Only the parts of the claim the held-claim read names; the others are not parameters of this statement.
  const e = claimOf((n) => (CHECK_PARAMS.has(n) ? p.ref(n) : 'NULL'));
  return `
SELECT ${clickFactsSql((n) => `c.${n}`)}, ${pgHeldId(e)} AS held_id
FROM (SELECT 1) AS one LEFT JOIN (${clickLookupSql(p.ref('click_id'))}) c ON true`;
}

/** Citus: how many of a batch's function calls run at once (see recordCitusBatch). */
const CITUS_BATCH_CALLS_AT_ONCE = 4;

/** Citus: the write function's refusal when the click's shard moved off its worker, and how often fullRow sends the call. */
const CITUS_MOVED = 'thrad: the shard of this click moved to another node';
const CITUS_MOVED_RETRIES = 3;

/** The advisory lock under which replicas create the Citus write function (see citusRecord). */
const CITUS_FUNCTION_LOCK = 0x74687263;

/** How many times a statement that lost a race to a concurrent claim (and wrote nothing) is run again. */
const PG_RACE_ATTEMPTS = 5;

/**
 * How many batches of conversions may be in the database at once, and how large one may be. Two
 * (one running while the next gathers) measured best on the benchmark machine; 1 to 8 were tried.
 * 256 lets a 100-item batch request be one statement (64 split it in two) and join the items that
 * queued behind it; PostgreSQL's CPU per row is flat from ~100 to 512 rows a statement, and one
 * statement of 256 stays ~25 ms of database work (the batch route's p99 bound is 150 ms).
 */
const PG_BATCHES_IN_FLIGHT = 2;
const PG_BATCH_MAX = 256;
const SQLITE_BATCH_MAX = 128;

/** SQLSTATE classes that name a problem of one row or of the batch's timing, not of the database. */
const ROW_LEVEL_SQLSTATE = /^(22|23|40)/;

/** Timing that passes every attribution-time check (for callers that check no times: the repository's unit specs). */
const NO_TIME_CHECKS: AttributionTiming = {
  precedesAfter: new Date(8.64e15),
  windowBefore: new Date(-8.64e15),
  base: 'ok',
  policy: 'flag',
};

/** The verdict a statement answered (null when it read no click). */
function statusOf(r: Record<string, unknown>): AttributionStatus | null {
  return (r.attribution_status as AttributionStatus | undefined) ?? null;
}

/** What a dedup claim is unique on. */
function claimKey(n: NewConversion): string {
  return JSON.stringify([n.dedup_key, n.click_id, n.event_type]);
}

@Injectable()
export class ConversionsRepository {
  /** Gathers the conversions that arrive together into one statement (PostgreSQL) or transaction (SQLite). */
  private readonly batcher: WriteBatcher<BatchItem, RecordOutcome>;
  private readonly dialect: Dialect;
  private readonly pg: {
    params: PgParams<BatchItem>;
    batch: string;
    /** The batch statement with the outbox CTE: used when a partner of the batch has a webhook endpoint. */
    batchWebhooks: string;
    full: string;
    checkParams: PgParams<BatchItem>;
    check: string;
  };
  private sqlite?: {
    transaction: SqliteHandle['transaction'];
    click: NamedStatement;
    held: NamedStatement;
    claim: NamedStatement;
    insert: NamedStatement;
    matched: NamedStatement;
    supersede: NamedStatement;
    outboxCreated: NamedStatement;
    outboxSuperseded: NamedStatement;
  };

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    @Inject(APP_CONFIG) config: Pick<AppConfig, 'dbPoolSize' | 'dbConnectTimeoutMs'>,
    @Optional() private readonly outbox?: WebhookOutbox,
  ) {
    this.dialect = new Dialect(ds);
    const params = new PgParams(this.dialect, INPUTS);
    const checkParams = new PgParams(
      this.dialect,
      INPUTS.filter((p) => CHECK_PARAMS.has(p.name)),
    );
    this.pg = {
      params,
      batch: pgBatchStatement(params),
      batchWebhooks: pgBatchStatement(params, true),
      full: pgFullStatement(params),
      checkParams,
      check: pgCheckStatement(checkParams),
    };
    const limits = {
      // A conversion waits for a batch slot no longer than a query waits for a pooled connection.
      maxWaitMs: config.dbConnectTimeoutMs,
      timeoutError: databaseUnavailable,
    };
    this.batcher = this.dialect.isPostgres
      ? new WriteBatcher((items) => this.recordPostgresBatch(items), {
          ...limits,
          maxInFlight: Math.min(PG_BATCHES_IN_FLIGHT, config.dbPoolSize),
          maxBatch: PG_BATCH_MAX,
        })
      : // better-sqlite3 is synchronous: one transaction at a time, in this thread.
        new WriteBatcher(async (items) => this.recordSqliteBatch(await this.sqliteConnectionFree(items)), {
          ...limits,
          maxInFlight: 1,
          maxBatch: SQLITE_BATCH_MAX,
        });
  }

  /** Checks the click, claims the dedup key and writes the row, atomically. */
  async recordAtomically(
    n: NewConversion,
    windowStartMs: number,
    timing: AttributionTiming = NO_TIME_CHECKS,
  ): Promise<RecordOutcome> {
    return trackIngest(() => this.batcher.submit({ n, windowStartMs, timing }));
  }

  /**
   * Validate-only: what recordAtomically would decide about the click and the dedup claim, read and
   * never written (no claim, no row). It is a plain read, not a member of the group commit, so it
   * holds no batch slot. A claim held inside the window is `claimed_id` (when the click is
   * attributable, as the write answers); `inserted_id` is always null.
   */
  async recordReadOnly(
    n: NewConversion,
    windowStartMs: number,
    timing: AttributionTiming = NO_TIME_CHECKS,
  ): Promise<RecordOutcome> {
    const it: BatchItem = { n, windowStartMs, timing };
    let click: ClickFacts;
    let held: string | null;
    if (this.dialect.isPostgres) {
      const [r] = await this.query('conversions_check', this.pg.check, this.pg.checkParams.values(it));
      click = clickFactsOf(r);
      held = (r.held_id as string) ?? null;
    } else {
      const s = this.sqliteStatements();
      // One read transaction (deferred: no write lock), so the click and the claim are one snapshot.
      [click, held] = s.transaction((): [ClickFacts, string | null] => {
        const params = sqliteParams(this.dialect, INPUTS, it);
        const c = clickFactsOf((s.click.get(params) as Record<string, unknown> | undefined) ?? {});
        if (n.dedup_key === null) return [c, null];
        const h = s.held.get(params) as { conversion_id: string; claimed_at: number | string } | undefined;
        return [c, h && isWithinWindow(h.claimed_at, windowStartMs) ? h.conversion_id : null];
      })();
    }
    // The attribution-time verdict, by the statement's own rule, from the click just read.
    const attribution_status = click.found && click.clicked_at ? attributionStatusOf(click.clicked_at, timing) : null;
    return {
      click,
      claimed_id: isAttributable(click, n.partner_id, n.mode) ? held : null,
      inserted_id: null,
      attribution_status,
    };
  }

  /**
   * Runs a named statement on the driver's pg Pool: parsed and planned once per connection, without
   * TypeORM's query-runner bookkeeping (a pool checkout, logging hooks, result mapping) per call.
   */
  private async query(name: string, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
    return (await this.dialect.pgPool().query({ name, text, values })).rows as Record<string, unknown>[];
  }

  /**
   * The key is claimed, but not inside the window as of the batch statement's snapshot: a claim to
   * take over, or one a concurrent request committed meanwhile. The full statement decides.
   */
  private async recordPostgresFull(it: BatchItem): Promise<RecordOutcome> {
    for (let attempt = 1; ; attempt++) {
      const r = await this.fullRow(it);
      const outcome: RecordOutcome = {
        click: clickFactsOf(r),
        claimed_id: (r.claimed_id as string) ?? null,
        inserted_id: (r.inserted_id as string) ?? null,
        ...pgMatchOutcome(r),
        attribution_status: statusOf(r),
      };
      if (!this.undecided(outcome, it) || attempt >= PG_RACE_ATTEMPTS) return outcome;
    }
  }

  private async recordPostgresBatch(items: BatchItem[]): Promise<PromiseSettledResult<RecordOutcome>[]> {
    if (await this.dialect.isCitus()) return this.recordCitusBatch(items);
    let rows: Record<string, unknown>[];
    try {
      const webhooks = items.some((it) => this.outbox?.hasEndpoints(it.n.partner_id));
      rows = await this.query(
        webhooks ? 'conversions_record_batch_webhooks' : 'conversions_record_batch',
        webhooks ? this.pg.batchWebhooks : this.pg.batch,
        this.pg.params.arrays(items),
      );
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
            click: clickFactsOf(r),
            claimed_id: ((r.inserted_id ?? r.held_id) as string) ?? null,
            inserted_id: (r.inserted_id as string) ?? null,
            ...pgMatchOutcome(r),
            attribution_status: statusOf(r),
          }
        : null;
    });
    // The second of two conversions of this batch with one key: a duplicate of the first.
    const winners = new Map<string, number>();
    items.forEach((it, i) => outcomes[i]?.inserted_id && it.n.dedup_key !== null && winners.set(claimKey(it.n), i));
    return Promise.allSettled(
      items.map(async (it, i) => {
        const o = outcomes[i];
        if (!o) throw new Error(`the batch statement answered no row for input ${i + 1} of ${items.length}`); // cannot happen: a bug, a 500
        // A server conversion matching a Tag row: the full statement supersedes it (kept out of this
        // statement, which every conversion pays for, since it is rare).
        if (o.matched?.source === 'tag' && it.n.source === 'api') return this.recordPostgresFull(it);
        if (!this.undecided(o, it)) return o;
        const sibling = winners.get(claimKey(it.n));
        // A server conversion whose sibling is a Tag conversion supersedes it: the batch statement
        // has committed, so the full statement finds the sibling's claim and row.
        if (sibling !== undefined && !(it.n.source === 'api' && items[sibling].n.source === 'tag')) {
          const w = items[sibling].n;
          const matched: MatchedConversion = {
            conversion_value: w.conversion_value,
            currency: w.currency,
            conversion_time: w.conversion_time,
            tag_id: outcomes[sibling]!.tag_id!,
            source: w.source,
          };
          return { ...o, claimed_id: outcomes[sibling]!.inserted_id, matched };
        }
        return this.recordPostgresFull(it);
      }),
    );
  }

  /** The full statement's one row for `it`: on Citus through its distributed function (see citusRecord). */
  private async fullRow(it: BatchItem): Promise<Record<string, unknown>> {
    const values = this.pg.params.values(it);
    if (!(await this.dialect.isCitus())) return (await this.query('conversions_record', this.pg.full, values))[0];
    const call = await this.citusRecord();
    // A call that reached the worker just as the click's shard group moved away finds the shard no
    // longer placed there and refuses before writing (see createCitusRecord): sent again, the
    // coordinator routes it to the new placement.
    for (let attempt = 1; ; attempt++) {
      try {
        const [r] = await this.query(call.name, call.text, values);
        return r.r as Record<string, unknown>;
      } catch (e) {
        if (attempt >= CITUS_MOVED_RETRIES || !String((e as Error).message).includes(CITUS_MOVED)) throw e;
      }
    }
  }

  /*
   * Citus. The batch statement reads its rows from parameter arrays (unnest): Citus cannot tell
   * which shard a row is for. And Citus plans every data-modifying CTE (the claim, the insert, the
   * supersede) as a subplan of its own, its result pulled through the coordinator: even the
   * one-conversion statement would be several round trips, and its CTEs would no longer share one
   * snapshot. So on Citus the one-conversion statement runs inside a PL/pgSQL function, distributed
   * by its click id argument and co-located with `clicks` (create_distributed_function): Citus
   * sends the call `SELECT f($1, …)` whole to the worker holding the click's shard (call
   * delegation: one task, one round trip), and the statement runs there on that worker's shard
   * tables (see citusShardTemplate), committed by that worker alone (no two-phase commit).
   * test/citus.e2e.spec.ts reads the call's plan and fails when it is not one task.
   *
   * Each conversion of a batch is its own call, concurrently over the pool. Splitting the batch per
   * shard would keep a group commit only for conversions that share a shard: with 32 shards, a
   * 64-conversion batch has about two per shard; the workers' WAL flush already merges concurrent commits.
   *
   * The function is named after a hash of its body and parameter types, so a release
   * that changes the statement creates its own function (replicas of the old release keep theirs)
   * and every replica of one release finds the same one. It is created on first use, under an
   * advisory lock (replicas starting together), and answers its row as JSON, numeric values as text.
   */
  private citusCall?: Promise<{ name: string; text: string }>;

  private citusRecord(): Promise<{ name: string; text: string }> {
    this.citusCall ??= this.createCitusRecord().catch((e: unknown) => {
      this.citusCall = undefined;
      throw e;
    });
    return this.citusCall;
  }

  private async createCitusRecord(): Promise<{ name: string; text: string }> {
    const params = this.pg.params.params;
    const types = params.map((p) => p.pgType);
    const distArg = `$${params.findIndex((p) => p.name === 'click_id') + 1}`;
    const numeric = ['m_conversion_value'];
    const template = await this.citusShardTemplate(distArg);
    // PL/pgSQL runs the statement on the shards of this worker (EXECUTE: planned per call), INTO r
    // takes its one row; `format` puts in the shard names, the USING list the parameters.
    // First it takes the click's shard group's metadata lock in share mode, the lock a shard move
    // takes exclusively on every node while it copies (block_writes) or catches up (logical): the
    // statement names the shard tables itself, so Citus's own write locks do not cover it, and
    // without this a write during a move went to the old placement and was lost with it (bench
    // --rebalance: 131 of 14,755 acknowledged conversions). Once the lock is held, the shard must
    // still be placed on this node; if the move took it away, the call refuses before writing
    // (SQLSTATE 40001, CITUS_MOVED) and fullRow sends it again.
    const body = `DECLARE r record; s bigint; BEGIN
      s := get_shard_id_for_distribution_column('clicks'::regclass, ${distArg});
      PERFORM lock_shard_metadata(5, ARRAY[s]);
      IF NOT EXISTS (SELECT 1 FROM pg_dist_placement
                      WHERE shardid = s AND groupid = (SELECT groupid FROM pg_dist_local_group)) THEN
        RAISE EXCEPTION '${CITUS_MOVED}' USING ERRCODE = '40001';
      END IF;
      EXECUTE format($sql$${template.text}$sql$, ${template.shards.join(', ')})
        INTO r USING ${params.map((_, i) => `$${i + 1}`).join(', ')};
      RETURN (to_jsonb(r) || jsonb_build_object(${numeric.map((c) => `'${c}', r.${c}::text`).join(', ')}))::json;
    END`;
    const fn = `thrad_record_conversion_${createHash('sha256')
      .update(`${types.join(',')}\n${body}`)
      .digest('hex')
      .slice(0, 16)}`;
    const signature = `${fn}(${types.join(', ')})`;
    const runner = this.ds.createQueryRunner();
    try {
      await runner.startTransaction();
      await runner.query('SELECT pg_advisory_xact_lock($1)', [CITUS_FUNCTION_LOCK]);
      const [exists] = (await runner.query('SELECT 1 FROM pg_proc WHERE proname = $1', [fn])) as unknown[];
      if (!exists) {
        await runner.query(
          `CREATE FUNCTION ${signature} RETURNS json LANGUAGE plpgsql VOLATILE SET citus.enable_manual_changes_to_shards = on AS $fn$${body}$fn$`,
        );
        await runner.query(`SELECT create_distributed_function($1, $2, colocate_with => 'clicks')`, [
          signature,
          distArg,
        ]);
      }
      await runner.commitTransaction();
    } catch (e) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw e;
    } finally {
      await runner.release();
    }
    return {
      name: `conversions_record_${fn}`,
      text: `SELECT ${fn}(${params.map((p, i) => `$${i + 1}::${p.pgType}`).join(', ')}) AS r`,
    };
  }

  /**
   * The full statement with each Citus table it names replaced by a `format` placeholder, and the
   * expression that names that table's shard for the click (`distArg`) on the worker the call is
   * delegated to: a table co-located with clicks has its shard of the click; a reference table its
   * one shard (a copy on every node). The statement then runs on plain PostgreSQL tables, with
   * PostgreSQL's semantics: one snapshot for the whole statement, its CTEs included. Through the
   * distributed tables, Citus would run each data-modifying CTE as a query of its own, each seeing
   * the one before (a claim would read as held by itself).
   */
  private async citusShardTemplate(distArg: string): Promise<{ text: string; shards: string[] }> {
    const tables = (await this.ds.query(
      `SELECT p.logicalrelid::regclass::text AS name, p.partmethod AS method,
              p.colocationid = (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = 'clicks'::regclass) AS with_clicks
         FROM pg_dist_partition p`,
    )) as { name: string; method: string; with_clicks: boolean }[];
    let text = this.pg.full.replace(/%/g, '%%');
    const shards: string[] = [];
    for (const t of tables) {
      const re = new RegExp(`(?<![\\w."])${t.name}(?![\\w"])`, 'g');
      if (!re.test(text)) continue;
      const lit = `'${t.name}'::regclass`;
      if (t.method === 'n') {
        shards.push(`(SELECT shard_name(${lit}, shardid) FROM pg_dist_shard WHERE logicalrelid = ${lit})`);
      } else if (t.method === 'h' && t.with_clicks) {
        shards.push(`shard_name(${lit}, get_shard_id_for_distribution_column(${lit}, ${distArg}))`);
      } else {
        throw new Error(
          `Citus: the conversion write names ${t.name}, which is neither co-located with clicks nor a reference table`,
        );
      }
      text = text.replace(re, `%${shards.length}$s`);
    }
    return { text, shards };
  }

  /**
   * Citus: a batch's items are one function call each, at most CITUS_BATCH_CALLS_AT_ONCE at a time,
   * taken in index order. All at once, the calls of a large batch (or of two batches) queued on the
   * pool, and the last ones waited past DB_CONNECT_TIMEOUT_MS and were answered 503.
   */
  private async recordCitusBatch(items: BatchItem[]): Promise<PromiseSettledResult<RecordOutcome>[]> {
    const out: PromiseSettledResult<RecordOutcome>[] = new Array(items.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < items.length) {
        const i = next++;
        try {
          out[i] = { status: 'fulfilled', value: await this.recordPostgresFull(items[i]) };
        } catch (reason) {
          out[i] = { status: 'rejected', reason };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CITUS_BATCH_CALLS_AT_ONCE, items.length) }, worker));
    return out;
  }

  /** Attributable, not refused by its policy and keyed, yet nothing written and no claim named: a statement that lost a race. */
  private undecided(o: RecordOutcome, it: BatchItem): boolean {
    const n = it.n;
    return (
      isAttributable(o.click, n.partner_id, n.mode) &&
      !isRefusedByPolicy(o.attribution_status, it.timing.policy) &&
      n.dedup_key !== null &&
      !o.claimed_id &&
      !o.inserted_id
    );
  }

  /**
   * SQLite has one connection per process. While a TypeORM transaction is open on it (an admin
   * write and its audit entry), a batch started now would run inside it as a savepoint and be
   * rolled back with it after its conversions were answered `ok`: wait for it to end.
   */
  private async sqliteConnectionFree<T>(items: T): Promise<T> {
    const db = this.dialect.sqlite();
    while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    return items;
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
    return s
      .transaction(() =>
        items.map((it): PromiseSettledResult<RecordOutcome> => {
          try {
            return { status: 'fulfilled', value: s.transaction(() => this.recordSqliteOne(s, it))() };
          } catch (reason) {
            return { status: 'rejected', reason };
          }
        }),
      )
      .immediate();
  }

  private recordSqliteOne(s: ReturnType<ConversionsRepository['sqliteStatements']>, it: BatchItem): RecordOutcome {
    const params = sqliteParams(this.dialect, INPUTS, it);
    // No row when there is no such click: then nothing is found and nothing is attributable.
    const click = (s.click.get(params) as Record<string, unknown> | undefined) ?? {};
    const facts = clickFactsOf(click);
    const attribution_status = statusOf(click);
    if (!click.attributable || isRefusedByPolicy(attribution_status, it.timing.policy))
      return { click: facts, claimed_id: null, inserted_id: null, attribution_status };
    let claimedId: string | null = null;
    if (it.n.dedup_key !== null) {
      // A claim inside the window is a duplicate: answered without writing (no WAL frame to commit).
      const held = s.held.get(params) as { conversion_id: string; claimed_at: number | string } | undefined;
      if (held && isWithinWindow(held.claimed_at, it.windowStartMs))
        return this.sqliteDuplicate(s, it, params, click, held.conversion_id);
      claimedId = (s.claim.get(params) as { conversion_id: string }).conversion_id;
      if (claimedId !== it.n.id) return { click: facts, claimed_id: claimedId, inserted_id: null, attribution_status };
    }
    s.insert.run({
      ...params,
      click_tag_id: click.click_tag_id,
      click_bid_id: click.click_bid_id,
      click_attribution_status: attribution_status,
    });
    if (this.outbox?.hasEndpoints(it.n.partner_id)) s.outboxCreated.run(outboxParams(it.n.id, it.n, params.created_at));
    return { click: facts, claimed_id: claimedId, inserted_id: it.n.id, attribution_status };
  }

  /** SQLite: a duplicate of `heldId`; a server conversion supersedes a Tag one (see SUPERSEDED). */
  private sqliteDuplicate(
    s: ReturnType<ConversionsRepository['sqliteStatements']>,
    it: BatchItem,
    params: Record<string, unknown>,
    click: Record<string, unknown>,
    heldId: string,
  ): RecordOutcome {
    const m = s.matched.get({ click_id: it.n.click_id, held_id: heldId }) as Record<string, unknown> | undefined;
    const outcome: RecordOutcome = {
      click: clickFactsOf(click),
      claimed_id: heldId,
      inserted_id: null,
      matched: matchedOf(m, ''),
      tag_id: it.n.tag_id ?? (click.click_tag_id as string),
      superseded: false,
      attribution_status: statusOf(click),
    };
    if (m && m.source === 'tag' && it.n.source === 'api') {
      const values: Record<string, unknown> = {};
      for (const c of SUPERSEDED) {
        values[c.column] = c.pgType === 'timestamptz' ? fromDbTime(m[c.column])!.toISOString() : m[c.column];
      }
      values.extra = (JSON.parse(m.params as string) as { extra?: unknown }).extra;
      const superseded = { source: m.source, at: it.n.created_at.toISOString(), values };
      s.supersede.run({
        ...params,
        params: JSON.stringify({ ...it.n.params, superseded }),
        held_id: heldId,
        click_tag_id: click.click_tag_id,
        click_bid_id: click.click_bid_id,
      });
      s.outboxSuperseded.run(outboxParams(heldId, it.n, params.created_at));
      outcome.superseded = true;
    }
    return outcome;
  }

  /** Prepared once, on first use (the handle exists once the DataSource is connected). */
  private sqliteStatements() {
    if (!this.sqlite) {
      const db = this.dialect.sqlite();
      const e = claimOf((n) => `@${n}`);
      const click: StatementColumn = (n) => `@click_${n}`;
      const ins = insertConversion((n) => `@${n}`, click);
      this.sqlite = {
        transaction: db.transaction.bind(db),
        click: prepareNamed(
          db,
          `SELECT ${clickFactsSql((n) => `c.${n}`)}, ${ATTRIBUTION_CLICK_COLUMNS.map((n) => `c.${n} AS click_${n}`).join(', ')},
             ${attributableSql((n) => `c.${n}`, '@partner_id', '@mode')} AS attributable,
             ${attributionStatusSql('c.clicked_at', (n) => `@${n}`)} AS attribution_status
           FROM clicks c WHERE c.click_id = @click_id`,
        ),
        held: prepareNamed(db, sqliteHeld(e)),
        claim: prepareNamed(db, sqliteClaim(e)),
        insert: prepareNamed(db, `INSERT INTO conversions (${ins.columns}) VALUES (${ins.exprs})`),
        matched: prepareNamed(
          db,
          `SELECT ${SUPERSEDED.map((c) => c.column).join(', ')}, source, params FROM conversions WHERE click_id = @click_id AND id = @held_id`,
        ),
        supersede: prepareNamed(
          db,
          `UPDATE conversions SET ${SUPERSEDED.map((c) => `${c.column} = ${writtenExpr(c, (n) => `@${n}`, click)}`).join(', ')},
             source = @source, params = @params WHERE click_id = @click_id AND id = @held_id AND source = 'tag'`,
        ),
        // Prepared on first use: only partners with webhook endpoints ever run them.
        outboxCreated: lazyNamed(db, sqliteOutboxInsert('conversion.created', true)),
        outboxSuperseded: lazyNamed(db, sqliteOutboxInsert('conversion.superseded', true)),
      };
    }
    return this.sqlite;
  }
}

/** A named statement prepared when first run. */
function lazyNamed(db: SqliteHandle, sql: string): NamedStatement {
  let st: NamedStatement | undefined;
  return {
    get: (params) => (st ??= prepareNamed(db, sql)).get(params),
    run: (params) => (st ??= prepareNamed(db, sql)).run(params),
  };
}

/** SQLite: the outbox statement's parameters for conversion `id` (the click and partner of `n`, in its transaction). */
function outboxParams(id: string, n: NewConversion, at: unknown): Record<string, unknown> {
  return { click_id: n.click_id, conversion_id: id, partner_id: n.partner_id, at, mode: n.mode };
}

/** The duplicate's part of a PostgreSQL statement's row: what it matched, the tag written, whether it superseded. */
function pgMatchOutcome(r: Record<string, unknown>): Pick<RecordOutcome, 'matched' | 'tag_id' | 'superseded'> {
  return {
    matched: matchedOf(r),
    tag_id: (r.written_tag_id as string) ?? null,
    superseded: r.superseded_id != null,
  };
}
