import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { MONEY, TIMESTAMP } from '../../database/column-types';
import type { DataMode } from '../../common/data-mode';
import type { Param } from '../../database/dialect';
import type { DedupLayer } from '../dedup/dedup-claim.sql';
import type { AttributionStatus } from './attribution-time';

export type ConversionSource = 'api' | 'tag';
export type { DedupLayer };

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
  /** The caller's: a test key's conversions are test data (and attributable only to test clicks). */
  mode: DataMode;
}

/** One column a conversion writes: where its value comes from, and its PostgreSQL type. */
export interface ConversionColumn {
  column: keyof Conversion & string;
  pgType: Param<NewConversion>['pgType'];
  /** The value from the new conversion (a statement parameter named after the column); absent when it is the click's. */
  value?: (n: NewConversion) => unknown;
  /**
   * The click's column written instead (when `value` is absent) or when the conversion's value is
   * null; `attribution_status` is the verdict the statement computes from the click (attribution-time.ts).
   */
  fromClick?: 'tag_id' | 'bid_id' | 'attribution_status';
  /**
   * Replaced by a server conversion that supersedes the Tag conversion holding its claim (the old
   * values are kept in params.superseded; see conversions.repository.ts).
   */
  superseded?: true;
}

/**
 * What a conversion writes, described once: every write statement (PostgreSQL's unnest arrays and
 * INSERT … SELECT lists, SQLite's named parameters) is generated from this list, and
 * test/conversion-round-trip.e2e.spec.ts writes a distinct value to each column and reads it back.
 */
export const CONVERSION_WRITE: readonly ConversionColumn[] = [
  { column: 'id', pgType: 'varchar', value: (n) => n.id },
  { column: 'partner_id', pgType: 'varchar', value: (n) => n.partner_id },
  { column: 'tag_id', pgType: 'varchar', value: (n) => n.tag_id, fromClick: 'tag_id', superseded: true },
  { column: 'click_id', pgType: 'varchar', value: (n) => n.click_id },
  { column: 'bid_id', pgType: 'varchar', fromClick: 'bid_id' },
  { column: 'source', pgType: 'varchar', value: (n) => n.source },
  { column: 'event_type', pgType: 'varchar', value: (n) => n.event_type },
  { column: 'conversion_time', pgType: 'timestamptz', value: (n) => n.conversion_time, superseded: true },
  { column: 'conversion_value', pgType: 'numeric', value: (n) => n.conversion_value, superseded: true },
  { column: 'currency', pgType: 'varchar', value: (n) => n.currency, superseded: true },
  { column: 'order_id', pgType: 'varchar', value: (n) => n.order_id, superseded: true },
  { column: 'event_id', pgType: 'varchar', value: (n) => n.event_id, superseded: true },
  { column: 'dedup_key', pgType: 'varchar', value: (n) => n.dedup_key },
  { column: 'dedup_layer', pgType: 'varchar', value: (n) => n.dedup_layer },
  { column: 'page_url', pgType: 'varchar', value: (n) => n.page_url, superseded: true },
  { column: 'referrer', pgType: 'varchar', value: (n) => n.referrer, superseded: true },
  { column: 'user_agent', pgType: 'varchar', value: (n) => n.user_agent, superseded: true },
  { column: 'session_id', pgType: 'varchar', value: (n) => n.session_id, superseded: true },
  { column: 'client_id', pgType: 'varchar', value: (n) => n.client_id, superseded: true },
  { column: 'params', pgType: 'json', value: (n) => n.params },
  { column: 'created_at', pgType: 'timestamptz', value: (n) => n.created_at },
  { column: 'attribution_status', pgType: 'varchar', fromClick: 'attribution_status' },
  { column: 'mode', pgType: 'varchar', value: (n) => n.mode },
];

/**
 * The conversion's net state after adjustments (issue 13): not written by the insert (null, and
 * `status`'s default 'active'), set only by an adjustment under the row lock (src/modules/adjustments).
 */
export const CONVERSION_STATE_COLUMNS = ['current_value', 'status', 'adjusted_at'] as const;

/** The columns of `conversions` the insert writes, in the order of CONVERSION_WRITE. */
export const CONVERSION_COLUMNS: readonly (keyof Conversion & string)[] = CONVERSION_WRITE.map((c) => c.column);

@Entity('conversions')
@Index('IDX_conversions_id', ['id'], { type: 'hash' })
@Index('IDX_conversions_partner_time', ['partner_id', 'conversion_time', 'id'])
@Index('IDX_conversions_time', ['conversion_time', 'id'])
@Index('IDX_conversions_tag_time', ['tag_id', 'conversion_time', 'id'])
@Index('IDX_conversions_event_time', ['event_type', 'conversion_time', 'id'])
@Index('IDX_conversions_order', ['order_id'], { type: 'hash' })
@Index('IDX_conversions_partner_event_time', ['partner_id', 'event_type', 'conversion_time', 'id'])
@Index('IDX_conversions_partner_source_time', ['partner_id', 'source', 'conversion_time', 'id'])
@Index('IDX_conversions_test_created', ['created_at'], { where: "mode = 'test'" })
export class Conversion {
  /**
   * The primary key is (click_id, id) on every driver: Citus distributes conversions by click_id
   * and requires it in every primary key (migration 1765900000015). Ids are service-made UUIDs;
   * IDX_conversions_id serves the lookups by id alone. The primary key's index (click_id first) serves
   * the lookups by click: a separate click_id index was redundant (migration 1765900000020). The
   * lookups by id and by order id are equality only: hash indexes on PostgreSQL (cheaper to insert
   * into), btrees on SQLite (see adaptColumnTypes).
   */
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 36 })
  tag_id: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  @Column({ type: 'varchar', length: 255 })
  bid_id: string;

  @Column({ type: 'varchar', length: 8 })
  source: ConversionSource;

  @Column({ type: 'varchar', length: 255 })
  event_type: string;

  @Column({ ...TIMESTAMP })
  conversion_time: Date;

  /** Exact decimal; returned as a string. */
  @Column({ ...MONEY })
  conversion_value: string;

  @Column({ type: 'varchar', length: 3 })
  currency: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  order_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  event_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  dedup_key: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  dedup_layer: DedupLayer | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  page_url: string | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  referrer: string | null;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  user_agent: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  session_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  client_id: string | null;

  /** `{ "extra": { ...every unknown body key, exactly as sent } }` */
  @Column({ type: 'json' })
  params: object;

  @Column({ ...TIMESTAMP })
  created_at: Date;

  /** The attribution-time verdict: ok, precedes_click, outside_window or future; null for rows recorded before the checks. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  attribution_status?: AttributionStatus | null;

  /** `live`, or `test` for a sandbox key's conversion (never in live listings, exports or metrics). */
  @Column({ type: 'varchar', length: 4, default: 'live' })
  mode?: DataMode;
  /** The net value after adjustments; null until the first one (then the net value is conversion_value). */
  @Column({ ...MONEY, nullable: true })
  current_value?: string | null;

  /** `active`, or `retracted` (it no longer counts). */
  @Column({ type: 'varchar', length: 16, default: 'active' })
  status?: 'active' | 'retracted';

  /** The adjusted_at of the latest adjustment applied; null until the first one. */
  @Column({ ...TIMESTAMP, nullable: true })
  adjusted_at?: Date | null;
}
