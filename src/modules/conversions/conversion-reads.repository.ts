import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, SelectQueryBuilder } from 'typeorm';
import { fromDbTime, sqliteTime } from '../../database/column-types';
import type { Cursor } from '../../common/query';
import { CONVERSION_COLUMNS } from './conversion.entity';

/** Filters as the repository understands them: exact matches and a half-open time range. */
export interface ConversionFilter {
  partner_id?: string;
  tag_id?: string;
  click_id?: string;
  order_id?: string;
  event_type?: string;
  source?: string;
  from?: Date;
  to?: Date;
}

export type ConversionRow = Record<string, unknown>;

/** Listings leave `params` out (it may be large); the detail view reads it too. */
const LIST_COLUMNS = CONVERSION_COLUMNS.filter((c) => c !== 'params');

/**
 * The read side of conversions: newest first by (conversion_time, id), keyset pagination only.
 * Every list query is `WHERE <filters> AND (conversion_time, id) < (cursor) ORDER BY
 * conversion_time DESC, id DESC LIMIT n`, which the (…, conversion_time, id) indexes serve
 * without sorting on PostgreSQL, so a deep page costs what the first one does. (The embedded
 * SQLite store leaves most of those indexes out: see POSTGRES_ONLY_INDEXES.)
 */
@Injectable()
export class ConversionReadsRepository {
  private readonly isPostgres: boolean;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.isPostgres = ds.options.type === 'postgres';
  }

  /** At most `limit` rows after the cursor, newest first; `withParams` adds the params column. */
  page(filter: ConversionFilter, after: Cursor | null, limit: number, withParams = false): Promise<ConversionRow[]> {
    const qb = this.base(filter, withParams);
    if (after) {
      qb.andWhere(`(c.conversion_time, c.id) < (${this.timeParam('after_t')}, :after_id)`, {
        after_t: this.time(after.at),
        after_id: after.id,
      });
    }
    return qb.orderBy('c.conversion_time', 'DESC').addOrderBy('c.id', 'DESC').limit(limit).getRawMany<ConversionRow>();
  }

  /**
   * Every matching row for the CSV export, in batches of `batchSize`, newest first, already in
   * CSV column order as text (ISO-8601 UTC times, canonical decimals, params.extra as JSON).
   * The next batch is fetched while the caller writes the current one.
   */
  async *csvBatches(filter: ConversionFilter, batchSize: number): AsyncGenerator<(string | null)[][]> {
    const fetch = (after: Cursor | null) => {
      const p = this.isPostgres
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
        next = fetch({ at: new Date(last[1]!), id: last[0]! });
      }
      if (batch.length) yield batch;
      if (!full) return;
    }
  }

  /*
   * PostgreSQL: straight to the driver's pool, rows as arrays of text (no Date, numeric or JSON
   * parsing in Node); PostgreSQL formats the times and returns params.extra as stored.
   */
  private async csvBatchPostgres(
    filter: ConversionFilter,
    after: Cursor | null,
    limit: number,
  ): Promise<(string | null)[][]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const p = (v: unknown) => {
      values.push(v);
      return `$${values.length}`;
    };
    for (const key of ['partner_id', 'tag_id', 'click_id', 'order_id', 'event_type', 'source'] as const) {
      if (filter[key] !== undefined) where.push(`${key} = ${p(filter[key])}`);
    }
    if (filter.from) where.push(`conversion_time >= ${p(filter.from.toISOString())}::timestamptz`);
    if (filter.to) where.push(`conversion_time < ${p(filter.to.toISOString())}::timestamptz`);
    if (after) where.push(`(conversion_time, id) < (${p(after.at.toISOString())}::timestamptz, ${p(after.id)})`);
    const iso = (col: string) => `to_char(${col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    const sql =
      `SELECT id, ${iso('conversion_time')}, partner_id, tag_id, click_id, bid_id, source, event_type, trim_scale(conversion_value)::text, ` +
      `currency, order_id, event_id, dedup_key, dedup_layer, page_url, referrer, user_agent, session_id, client_id, ${iso('created_at')}, ` +
      `COALESCE((params->'extra')::text, '{}') FROM conversions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ` +
      `ORDER BY conversion_time DESC, id DESC LIMIT ${Number(limit)}`;
    const pool = (this.ds.driver as unknown as { master: { query(q: object): Promise<{ rows: (string | null)[][] }> } })
      .master;
    const res = await pool.query({
      text: sql,
      values,
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => v },
    });
    return res.rows;
  }

  private async csvBatchSqlite(
    filter: ConversionFilter,
    after: Cursor | null,
    limit: number,
  ): Promise<(string | null)[][]> {
    const rows = await this.page(filter, after, limit, true);
    const iso = (v: unknown) => fromDbTime(v)!.toISOString();
    const text = (v: unknown) => (v === null || v === undefined ? null : String(v));
    return rows.map((r) => {
      const params = (typeof r.params === 'string' ? JSON.parse(r.params) : r.params) as { extra?: unknown } | null;
      return [
        r.id as string,
        iso(r.conversion_time),
        r.partner_id as string,
        r.tag_id as string,
        r.click_id as string,
        r.bid_id as string,
        r.source as string,
        r.event_type as string,
        String(r.conversion_value),
        r.currency as string,
        text(r.order_id),
        text(r.event_id),
        text(r.dedup_key),
        text(r.dedup_layer),
        text(r.page_url),
        text(r.referrer),
        text(r.user_agent),
        text(r.session_id),
        text(r.client_id),
        iso(r.created_at),
        JSON.stringify(params?.extra ?? {}),
      ];
    });
  }

  async findById(id: string): Promise<ConversionRow | null> {
    const row = await this.base({}, true).where('c.id = :id', { id }).getRawOne<ConversionRow>();
    return row ?? null;
  }

  private base(filter: ConversionFilter, withParams: boolean): SelectQueryBuilder<ConversionRow> {
    const cols = withParams ? CONVERSION_COLUMNS : LIST_COLUMNS;
    const qb = this.ds
      .createQueryBuilder()
      .select(cols.map((col) => `c.${col} AS ${col}`))
      .from('conversions', 'c') as SelectQueryBuilder<ConversionRow>;
    qb.where('1 = 1');
    for (const key of ['partner_id', 'tag_id', 'click_id', 'order_id', 'event_type', 'source'] as const) {
      const v = filter[key];
      if (v !== undefined) qb.andWhere(`c.${key} = :${key}`, { [key]: v });
    }
    if (filter.from)
      qb.andWhere(`c.conversion_time >= ${this.timeParam('from_t')}`, { from_t: this.time(filter.from) });
    if (filter.to) qb.andWhere(`c.conversion_time < ${this.timeParam('to_t')}`, { to_t: this.time(filter.to) });
    return qb;
  }

  /** A timestamp parameter: timestamptz on PostgreSQL; on SQLite the UTC text TypeORM stores. */
  private timeParam(name: string): string {
    return this.isPostgres ? `CAST(:${name} AS timestamptz)` : `:${name}`;
  }

  private time(d: Date): string {
    return this.isPostgres ? d.toISOString() : sqliteTime(d);
  }
}
