import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, SelectQueryBuilder } from 'typeorm';
import type { Cursor } from '../../common/query';
import { fromDbTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';
import { CONVERSION_COLUMNS } from './conversion.entity';

/** Filters as the repository understands them: exact matches and a half-open time range. */
export interface ConversionFilter {
  partner_id?: string;
  tag_id?: string;
  click_id?: string;
  order_id?: string;
  event_type?: string;
  source?: string;
  attribution_status?: string;
  /** `live` or `test` (the listings and the export always name one; a click's conversions need none). */
  mode?: string;
  /** active | retracted (issue 13). */
  status?: string;
  from?: Date;
  to?: Date;
}

export type ConversionRow = Record<string, unknown>;

/** Listings leave `params` out (it may be large); the detail view reads it too. */
const LIST_COLUMNS = CONVERSION_COLUMNS.filter((c) => c !== 'params');

/** How many adjustments a conversion has (served by the dedup index of conversion_adjustments, which leads with click_id). */
const ADJUSTMENT_COUNT = `(SELECT COUNT(*) FROM conversion_adjustments a WHERE a.click_id = c.click_id AND a.conversion_id = c.id)`;

/**
 * The conversion's net state (issue 13), read beside its columns: a null current_value means never
 * adjusted, so the net value is the value as sent.
 */
const STATE_SELECT = [
  'COALESCE(c.current_value, c.conversion_value) AS current_value',
  'c.status AS status',
  'c.adjusted_at AS adjusted_at',
  `${ADJUSTMENT_COUNT} AS adjustment_count`,
];

/** One column of the CSV export: its header, how PostgreSQL writes it as text, and how a row read on SQLite maps to it. */
export interface CsvColumn {
  header: string;
  /** What the cell holds (a `number` cell is a canonical decimal, never text to neutralise). */
  kind: 'text' | 'number' | 'time' | 'json';
  /** PostgreSQL: the cell as text, computed by the query (no Date, numeric or JSON parsing in Node). */
  pg: string;
  /** The cell from a row of CONVERSION_COLUMNS as TypeORM reads it (SQLite). */
  cell(r: ConversionRow): string | null;
}

const text = (column: string): CsvColumn => ({
  header: column,
  kind: 'text',
  pg: `c.${column}`,
  cell: (r) => (r[column] === null || r[column] === undefined ? null : String(r[column])),
});
const time = (column: string): CsvColumn => ({
  header: column,
  kind: 'time',
  pg: `to_char(c.${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
  cell: (r) => fromDbTime(r[column])!.toISOString(),
});

/**
 * The CSV export, described once: its header (in the contract's order), its query and its row
 * mapping all come from this list.
 */
export const CSV_EXPORT: readonly CsvColumn[] = [
  text('id'),
  time('conversion_time'),
  text('partner_id'),
  text('tag_id'),
  text('click_id'),
  text('bid_id'),
  text('source'),
  text('event_type'),
  {
    header: 'conversion_value',
    kind: 'number',
    pg: 'trim_scale(c.conversion_value)::text',
    cell: (r) => String(r.conversion_value),
  },
  text('currency'),
  text('order_id'),
  text('event_id'),
  text('dedup_key'),
  text('dedup_layer'),
  text('page_url'),
  text('referrer'),
  text('user_agent'),
  text('session_id'),
  text('client_id'),
  time('created_at'),
  {
    header: 'params_extra',
    kind: 'json',
    pg: `COALESCE((c.params->'extra')::text, '{}')`,
    cell: (r) => {
      const params = (typeof r.params === 'string' ? JSON.parse(r.params) : r.params) as { extra?: unknown } | null;
      return JSON.stringify(params?.extra ?? {});
    },
  },
  text('attribution_status'),
  text('mode'),
  {
    header: 'current_value',
    kind: 'number',
    pg: 'trim_scale(COALESCE(c.current_value, c.conversion_value))::text',
    cell: (r) => String(r.current_value),
  },
  text('status'),
  {
    header: 'adjusted_at',
    kind: 'time',
    pg: `to_char(c.adjusted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
    cell: (r) => fromDbTime(r.adjusted_at)?.toISOString() ?? null,
  },
  {
    header: 'adjustment_count',
    kind: 'number',
    pg: `${ADJUSTMENT_COUNT}::text`,
    cell: (r) => String(r.adjustment_count),
  },
];

/** Where the keyset of the next export batch is read from a CSV row. */
const CSV_ID = CSV_EXPORT.findIndex((c) => c.header === 'id');
const CSV_TIME = CSV_EXPORT.findIndex((c) => c.header === 'conversion_time');

/**
 * The read side of conversions: newest first by (conversion_time, id), keyset pagination only.
 * Every list query is `WHERE <filters> AND (conversion_time, id) < (cursor) ORDER BY
 * conversion_time DESC, id DESC LIMIT n`, which the (…, conversion_time, id) indexes serve
 * without sorting on PostgreSQL, so a deep page costs what the first one does. (The embedded
 * SQLite store leaves most of those indexes out: see POSTGRES_ONLY_INDEXES.)
 */
@Injectable()
export class ConversionReadsRepository {
  private readonly dialect: Dialect;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.dialect = new Dialect(ds);
  }

  /** At most `limit` rows after the cursor, newest first; `withParams` adds the params column. */
  page(filter: ConversionFilter, after: Cursor | null, limit: number, withParams = false): Promise<ConversionRow[]> {
    const cols = withParams ? CONVERSION_COLUMNS : LIST_COLUMNS;
    return this.listing(filter, after, [...cols.map((col) => `c.${col} AS ${col}`), ...STATE_SELECT])
      .limit(limit)
      .getRawMany<ConversionRow>();
  }

  /**
   * Every matching row for the CSV export, in batches of `batchSize`, newest first, already in
   * CSV column order as text (ISO-8601 UTC times, canonical decimals, params.extra as JSON).
   * The next batch is fetched while the caller writes the current one.
   */
  async *csvBatches(filter: ConversionFilter, batchSize: number): AsyncGenerator<(string | null)[][]> {
    const fetch = (after: Cursor | null) => {
      const p = this.dialect.isPostgres
        ? this.csvBatchPostgres(filter, after, batchSize)
        : this.csvBatchSqlite(filter, after, batchSize);
      p.catch(() => undefined); // a prefetch nobody awaits (the client left) must not crash the process
      return p;
    };
    let next = fetch(null);
    for (;;) {
      const batch = await next;
      const full = batch.length === batchSize;
      if (full) {
        const last = batch[batch.length - 1];
        next = fetch({ at: new Date(last[CSV_TIME]!), id: last[CSV_ID]! });
      }
      if (batch.length) yield batch;
      if (!full) return;
      // A fast reader (a prefetched batch already in) would turn the whole export into one turn of
      // the event loop: let other requests run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /*
   * PostgreSQL: the listing's query with the CSV cells as its select list, straight to the driver's
   * pool, rows as arrays of text: PostgreSQL formats the times and returns params.extra as stored.
   */
  private async csvBatchPostgres(
    filter: ConversionFilter,
    after: Cursor | null,
    limit: number,
  ): Promise<(string | null)[][]> {
    const [text, values] = this.listing(
      filter,
      after,
      CSV_EXPORT.map((c, i) => `${c.pg} AS cell_${i}`),
    )
      .limit(limit)
      .getQueryAndParameters();
    const res = await this.dialect.pgPool().query({
      text,
      values,
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => v },
    });
    return res.rows as (string | null)[][];
  }

  private async csvBatchSqlite(
    filter: ConversionFilter,
    after: Cursor | null,
    limit: number,
  ): Promise<(string | null)[][]> {
    const rows = await this.page(filter, after, limit, true);
    return rows.map((r) => CSV_EXPORT.map((c) => c.cell(r)));
  }

  async findById(id: string): Promise<ConversionRow | null> {
    const row = await this.base({}, [...CONVERSION_COLUMNS.map((col) => `c.${col} AS ${col}`), ...STATE_SELECT])
      .andWhere('c.id = :id', { id })
      .getRawOne<ConversionRow>();
    return row ?? null;
  }

  /**
   * The detail rows of several conversions, each named with its click (a primary-key lookup each),
   * in one query (the webhook dispatcher reads a round's conversions so). Missing ones are absent.
   */
  async findByKeys(keys: readonly { click_id: string; id: string }[]): Promise<ConversionRow[]> {
    if (keys.length === 0) return [];
    const params: Record<string, string> = {};
    const match = keys
      .map((k, i) => {
        params[`c${i}`] = k.click_id;
        params[`i${i}`] = k.id;
        return `(c.click_id = :c${i} AND c.id = :i${i})`;
      })
      .join(' OR ');
    return this.base({}, [...CONVERSION_COLUMNS.map((col) => `c.${col} AS ${col}`), ...STATE_SELECT])
      .andWhere(`(${match})`, params)
      .getRawMany<ConversionRow>();
  }

  /** The filtered rows after the cursor, newest first, as `select`. */
  private listing(filter: ConversionFilter, after: Cursor | null, select: string[]): SelectQueryBuilder<ConversionRow> {
    const qb = this.base(filter, select);
    if (after) {
      const k = this.dialect.keysetBefore('c.conversion_time', 'c.id', after);
      qb.andWhere(k.where, k.params);
    }
    return qb.orderBy('c.conversion_time', 'DESC').addOrderBy('c.id', 'DESC');
  }

  private base(filter: ConversionFilter, select: string[]): SelectQueryBuilder<ConversionRow> {
    const qb = this.ds
      .createQueryBuilder()
      .select(select)
      .from('conversions', 'c') as SelectQueryBuilder<ConversionRow>;
    qb.where('1 = 1');
    for (const key of [
      'partner_id',
      'tag_id',
      'click_id',
      'order_id',
      'event_type',
      'source',
      'attribution_status',
      'status',
    ] as const) {
      const v = filter[key];
      if (v !== undefined) qb.andWhere(`c.${key} = :${key}`, { [key]: v });
    }
    // Live is written `<> 'test'` (the same rows: mode is live or test): without column statistics
    // (a table never analysed) PostgreSQL takes `= 'live'` for a rare value and sorts a full scan
    // instead of reading the (…, conversion_time, id) index backwards.
    if (filter.mode === 'live') qb.andWhere("c.mode <> 'test'");
    else if (filter.mode !== undefined) qb.andWhere('c.mode = :mode', { mode: filter.mode });
    const d = this.dialect;
    if (filter.from) qb.andWhere(`c.conversion_time >= ${d.timeParam('from_t')}`, { from_t: d.time(filter.from) });
    if (filter.to) qb.andWhere(`c.conversion_time < ${d.timeParam('to_t')}`, { to_t: d.time(filter.to) });
    return qb;
  }
}
