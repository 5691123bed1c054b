import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, SelectQueryBuilder } from 'typeorm';
import { sqliteTime } from '../../database/column-types';
import type { Cursor } from '../../common/query';

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

const LIST_COLUMNS = [
  'id',
  'partner_id',
  'tag_id',
  'click_id',
  'bid_id',
  'source',
  'event_type',
  'conversion_time',
  'conversion_value',
  'currency',
  'order_id',
  'event_id',
  'dedup_key',
  'dedup_layer',
  'page_url',
  'referrer',
  'user_agent',
  'session_id',
  'client_id',
  'created_at',
];

/**
 * The read side of conversions: newest first by (conversion_time, id), keyset pagination only.
 * Every list query is `WHERE <filters> AND (conversion_time, id) < (cursor) ORDER BY
 * conversion_time DESC, id DESC LIMIT n`, which the (…, conversion_time, id) indexes serve
 * without sorting, so a deep page costs what the first one does.
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

  async findById(id: string): Promise<ConversionRow | null> {
    const row = await this.base({}, true).where('c.id = :id', { id }).getRawOne<ConversionRow>();
    return row ?? null;
  }

  private base(filter: ConversionFilter, withParams: boolean): SelectQueryBuilder<ConversionRow> {
    const cols = withParams ? [...LIST_COLUMNS, 'params'] : LIST_COLUMNS;
    const qb = this.ds
      .createQueryBuilder()
      .select(cols.map((col) => `c.${col} AS ${col}`))
      .from('conversions', 'c') as SelectQueryBuilder<ConversionRow>;
    qb.where('1 = 1');
    for (const key of ['partner_id', 'tag_id', 'click_id', 'order_id', 'event_type', 'source'] as const) {
      const v = filter[key];
      if (v !== undefined) qb.andWhere(`c.${key} = :${key}`, { [key]: v });
    }
    if (filter.from) qb.andWhere(`c.conversion_time >= ${this.timeParam('from_t')}`, { from_t: this.time(filter.from) });
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
