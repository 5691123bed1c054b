import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { fromDbTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';

export interface TestConversionRow {
  id: string;
  at: Date;
  source: string;
  click_id: string;
  event_type: string;
  order_id: string | null;
  event_id: string | null;
  attribution_status: string | null;
}

export interface TestAttemptRow {
  id: string;
  at: Date;
  source: string;
  click_id: string | null;
  event_type: string | null;
  order_id: string | null;
  event_id: string | null;
  status: number;
  reason: string;
  error_loc: string | null;
  error_type: string | null;
}

/**
 * The sandbox's reads: one partner's test conversions and refused test attempts, newest first.
 * Only ever `mode = 'test'` rows of the partner asked for (never a live row, never another's).
 */
@Injectable()
export class SandboxRepository {
  private readonly dialect: Dialect;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.dialect = new Dialect(ds);
  }

  async testConversions(partnerId: string, since: Date, limit: number): Promise<TestConversionRow[]> {
    const d = this.dialect;
    const rows = await this.ds
      .createQueryBuilder()
      .select([
        'c.id AS id',
        'c.created_at AS at',
        'c.source AS source',
        'c.click_id AS click_id',
        'c.event_type AS event_type',
        'c.order_id AS order_id',
        'c.event_id AS event_id',
        'c.attribution_status AS attribution_status',
      ])
      .from('conversions', 'c')
      .where("c.mode = 'test'")
      .andWhere('c.partner_id = :partnerId', { partnerId })
      .andWhere(`c.created_at >= ${d.timeParam('since')}`, { since: d.time(since) })
      .orderBy('c.created_at', 'DESC')
      .addOrderBy('c.id', 'DESC')
      .limit(limit)
      .getRawMany<Record<string, unknown>>();
    return rows.map((r) => ({ ...(r as unknown as TestConversionRow), at: fromDbTime(r.at)! }));
  }

  async testAttempts(partnerId: string, since: Date, limit: number): Promise<TestAttemptRow[]> {
    const d = this.dialect;
    const rows = await this.ds
      .createQueryBuilder()
      .select([
        'a.id AS id',
        'a.at AS at',
        'a.source AS source',
        'a.click_id AS click_id',
        'a.event_type AS event_type',
        'a.order_id AS order_id',
        'a.event_id AS event_id',
        'a.status AS status',
        'a.reason AS reason',
        'a.error_loc AS error_loc',
        'a.error_type AS error_type',
      ])
      .from('conversion_attempts', 'a')
      .where("a.mode = 'test'")
      .andWhere('a.partner_id = :partnerId', { partnerId })
      // Duplicates share the table (issue 14) but are accepted retries, not refusals.
      .andWhere("a.reason <> 'duplicate'")
      .andWhere(`a.at >= ${d.timeParam('since')}`, { since: d.time(since) })
      .orderBy('a.at', 'DESC')
      .addOrderBy('a.id', 'DESC')
      .limit(limit)
      .getRawMany<Record<string, unknown>>();
    return rows.map((r) => ({ ...(r as unknown as TestAttemptRow), at: fromDbTime(r.at)!, status: Number(r.status) }));
  }
}
