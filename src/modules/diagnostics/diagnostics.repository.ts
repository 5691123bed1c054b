import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { fromDbTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';
import { ConversionAttempt } from '../attempts/conversion-attempt.entity';

/** PostgreSQL's numeric text keeps the column's 6 decimals; the API speaks the canonical decimal. */
function canonicalMoney(v: unknown): string {
  const s = String(v);
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}

/** Text no stored id can hold (NUL, broken UTF-16); PostgreSQL would refuse it in a query. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorable(...values: string[]): boolean {
  return values.every((v) => !UNSTORABLE.test(v));
}

/** At most this many rows of each kind in one explain document. */
export const EXPLAIN_LIMIT = 200;

export interface ClickRow {
  click_id: string;
  tag_id: string;
  partner_id: string;
  bid_id: string | null;
  clicked_at: Date;
  landing_url: string | null;
}

export interface ConversionRow {
  id: string;
  partner_id: string;
  click_id: string;
  source: string;
  event_type: string;
  conversion_value: string;
  currency: string;
  conversion_time: Date;
  created_at: Date;
  order_id: string | null;
  event_id: string | null;
  dedup_key: string | null;
  dedup_layer: string | null;
  /** The net state after adjustments (issue 13). */
  current_value: string;
  status: string;
  adjusted_at: Date | null;
}

export interface ClaimRow {
  dedup_key: string;
  click_id: string;
  event_type: string;
  conversion_id: string;
  claimed_at: number;
}

export interface WebhookDeliveryRow {
  message_id: string;
  endpoint_id: string;
  conversion_id: string;
  type: string;
  attempt: number;
  attempted_at: Date;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_attempt_at: Date | null;
}

export interface DayCount {
  day: string;
  key: string;
  n: number;
}

/**
 * Reads for diagnostics, across the tables the write path fills (clicks, conversions,
 * dedup_claims) and conversion_attempts: read-only, by indexed columns, each bounded.
 */
@Injectable()
export class DiagnosticsRepository {
  private readonly dialect: Dialect;
  private readonly isPostgres: boolean;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.dialect = new Dialect(ds);
    this.isPostgres = this.dialect.isPostgres;
  }

  private p(i: number): string {
    return this.dialect.param(i);
  }

  private time(d: Date): string {
    return this.dialect.time(d);
  }

  async findClick(clickId: string): Promise<ClickRow | null> {
    if (!isStorable(clickId)) return null;
    const rows: ClickRow[] = await this.ds.query(
      `SELECT click_id, tag_id, partner_id, bid_id, clicked_at, landing_url FROM clicks WHERE click_id = ${this.p(1)}`,
      [clickId],
    );
    return rows[0] ? { ...rows[0], clicked_at: fromDbTime(rows[0].clicked_at)! } : null;
  }

  /** Up to `limit` click ids that start with `prefix` (an index range scan on the primary key). */
  async clickIdsStartingWith(prefix: string, limit = 5): Promise<string[]> {
    if (!isStorable(prefix)) return [];
    const rows: { click_id: string }[] = await this.ds.query(
      `SELECT click_id FROM clicks WHERE click_id > ${this.p(1)} ORDER BY click_id LIMIT ${limit * 4}`,
      [prefix],
    );
    return rows
      .map((r) => r.click_id)
      .filter((id) => id.startsWith(prefix))
      .slice(0, limit);
  }

  async conversionsOfClick(clickId: string): Promise<ConversionRow[]> {
    return this.conversions(`click_id = ${this.p(1)}`, [clickId]);
  }

  async conversionsOfOrder(partnerId: string, orderId: string): Promise<ConversionRow[]> {
    return this.conversions(`order_id = ${this.p(1)} AND partner_id = ${this.p(2)}`, [orderId, partnerId]);
  }

  private async conversions(where: string, params: string[]): Promise<ConversionRow[]> {
    if (!isStorable(...params)) return [];
    const rows: ConversionRow[] = await this.ds.query(
      `SELECT id, partner_id, click_id, source, event_type, conversion_value, currency, conversion_time, created_at,
              order_id, event_id, dedup_key, dedup_layer,
              COALESCE(current_value, conversion_value) AS current_value, status, adjusted_at
       FROM conversions WHERE ${where} ORDER BY created_at, id LIMIT ${EXPLAIN_LIMIT}`,
      params,
    );
    return rows.map((r) => ({
      ...r,
      conversion_value: canonicalMoney(r.conversion_value),
      current_value: canonicalMoney(r.current_value),
      adjusted_at: fromDbTime(r.adjusted_at),
      conversion_time: fromDbTime(r.conversion_time)!,
      created_at: fromDbTime(r.created_at)!,
    }));
  }

  async claimsOfClick(clickId: string): Promise<ClaimRow[]> {
    if (!isStorable(clickId)) return [];
    const rows: ClaimRow[] = await this.ds.query(
      `SELECT dedup_key, click_id, event_type, conversion_id, claimed_at FROM dedup_claims WHERE click_id = ${this.p(1)}
       ORDER BY claimed_at LIMIT ${EXPLAIN_LIMIT}`,
      [clickId],
    );
    return rows.map((r) => ({ ...r, claimed_at: Number(r.claimed_at) }));
  }

  /** Webhook delivery attempts for the conversions of a click, oldest first. */
  async webhookDeliveriesOfClick(clickId: string): Promise<WebhookDeliveryRow[]> {
    if (!isStorable(clickId)) return [];
    const rows: Record<string, unknown>[] = await this.ds.query(
      `SELECT d.message_id, d.endpoint_id, d.conversion_id, d.type, d.attempt, d.attempted_at, d.status_code, d.latency_ms,
              d.error, d.next_attempt_at
       FROM webhook_deliveries d WHERE d.click_id = ${this.p(1)} ORDER BY d.attempted_at, d.id LIMIT ${EXPLAIN_LIMIT}`,
      [clickId],
    );
    return rows.map((r) => ({
      message_id: r.message_id as string,
      endpoint_id: r.endpoint_id as string,
      conversion_id: r.conversion_id as string,
      type: r.type as string,
      attempt: Number(r.attempt),
      attempted_at: fromDbTime(r.attempted_at)!,
      status_code: r.status_code == null ? null : Number(r.status_code),
      latency_ms: Number(r.latency_ms),
      error: (r.error as string | null) ?? null,
      next_attempt_at: fromDbTime(r.next_attempt_at),
    }));
  }

  /** Refused attempts on a click, oldest first; only `partnerId`'s when given. */
  async attemptsOfClick(clickId: string, partnerId?: string): Promise<ConversionAttempt[]> {
    if (!isStorable(clickId)) return [];
    const qb = this.ds
      .getRepository(ConversionAttempt)
      .createQueryBuilder('a')
      .where('a.click_id = :clickId', { clickId });
    if (partnerId !== undefined) qb.andWhere('a.partner_id = :partnerId', { partnerId });
    return qb.orderBy('a.at', 'ASC').limit(EXPLAIN_LIMIT).getMany();
  }

  async attemptsOfOrder(partnerId: string, orderId: string): Promise<ConversionAttempt[]> {
    if (!isStorable(partnerId, orderId)) return [];
    return this.ds
      .getRepository(ConversionAttempt)
      .createQueryBuilder('a')
      .where('a.partner_id = :partnerId AND a.order_id = :orderId', { partnerId, orderId })
      .orderBy('a.at', 'ASC')
      .limit(EXPLAIN_LIMIT)
      .getMany();
  }

  private day(column: string): string {
    return this.isPostgres ? `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')` : `substr(${column}, 1, 10)`;
  }

  /* The summaries count live data only (`mode <> 'test'`: see ConversionReadsRepository): the sandbox's test rows never appear in them. */

  /**
   * Conversions stored per UTC day and attribution verdict (key: `ok`, `precedes_click`,
   * `outside_window` or `future`; rows stored before the checks existed count as `ok`) for a
   * partner since `from`.
   */
  async conversionsPerDay(partnerId: string, from: Date): Promise<DayCount[]> {
    const rows: DayCount[] = await this.ds.query(
      `SELECT ${this.day('created_at')} AS day, COALESCE(attribution_status, 'ok') AS key, COUNT(*) AS n FROM conversions
       WHERE partner_id = ${this.p(1)} AND created_at >= ${this.p(2)} AND mode <> 'test' GROUP BY 1, 2`,
      [partnerId, this.time(from)],
    );
    return rows.map((r) => ({ ...r, n: Number(r.n) }));
  }

  /** Refused attempts per UTC day and reason for a partner since `from`. */
  async attemptsPerDay(partnerId: string, from: Date): Promise<DayCount[]> {
    const rows: DayCount[] = await this.ds.query(
      `SELECT ${this.day('at')} AS day, reason AS key, COUNT(*) AS n FROM conversion_attempts
       WHERE partner_id = ${this.p(1)} AND at >= ${this.p(2)} AND mode <> 'test' GROUP BY 1, 2`,
      [partnerId, this.time(from)],
    );
    return rows.map((r) => ({ ...r, n: Number(r.n) }));
  }

  async conversionsSince(partnerId: string, from: Date): Promise<number> {
    const [row] = await this.ds.query(
      `SELECT COUNT(*) AS n FROM conversions WHERE partner_id = ${this.p(1)} AND created_at >= ${this.p(2)} AND mode <> 'test'`,
      [partnerId, this.time(from)],
    );
    return Number(row?.n ?? 0);
  }

  async attemptsSinceByReason(partnerId: string, from: Date): Promise<Map<string, number>> {
    const rows: { reason: string; n: string | number }[] = await this.ds.query(
      `SELECT reason, COUNT(*) AS n FROM conversion_attempts WHERE partner_id = ${this.p(1)} AND at >= ${this.p(2)} AND mode <> 'test' GROUP BY reason`,
      [partnerId, this.time(from)],
    );
    return new Map(rows.map((r) => [r.reason, Number(r.n)]));
  }

  async partnerExists(partnerId: string): Promise<boolean> {
    if (!isStorable(partnerId)) return false;
    const rows = await this.ds.query(`SELECT id FROM partners WHERE id = ${this.p(1)}`, [partnerId]);
    return rows.length > 0;
  }
}
