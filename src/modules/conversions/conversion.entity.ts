import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { MONEY, TIMESTAMP } from '../../database/column-types';

export type ConversionSource = 'api' | 'tag';
export type DedupLayer = 'idempotency_key' | 'event_id' | 'order_id';

/** The columns of `conversions`, in the order the write statements list them (the one list of them). */
export const CONVERSION_COLUMNS = [
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
  'params',
  'created_at',
] as const;

@Entity('conversions')
@Index('IDX_conversions_click', ['click_id'])
@Index('IDX_conversions_partner_time', ['partner_id', 'conversion_time', 'id'])
@Index('IDX_conversions_time', ['conversion_time', 'id'])
@Index('IDX_conversions_tag_time', ['tag_id', 'conversion_time', 'id'])
@Index('IDX_conversions_event_time', ['event_type', 'conversion_time', 'id'])
@Index('IDX_conversions_order', ['order_id'])
@Index('IDX_conversions_partner_event_time', ['partner_id', 'event_type', 'conversion_time', 'id'])
@Index('IDX_conversions_partner_source_time', ['partner_id', 'source', 'conversion_time', 'id'])
export class Conversion {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 36 })
  tag_id: string;

  @Column({ type: 'varchar', length: 255 })
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
}
