import { Column, Entity, Index, PrimaryColumn, Unique } from 'typeorm';
import { MONEY, TIMESTAMP } from '../../database/column-types';

export const ADJUSTMENT_TYPES = ['retract', 'restate', 'refund'] as const;
export type AdjustmentType = (typeof ADJUSTMENT_TYPES)[number];

/**
 * What a recorded adjustment did: `applied` (it is part of the conversion's net state), or
 * `more_recent_adjustment` (a restatement with a later `adjusted_at` already decides the total:
 * recorded in the history, total unchanged).
 */
export type AdjustmentOutcome = 'applied' | 'more_recent_adjustment';

export type ConversionStatus = 'active' | 'retracted';

/**
 * One adjustment of a conversion, immutable once written, in the same transaction as the change of
 * the conversion's net state. Hangs off a click: `click_id` leads the primary key and the unique
 * constraint (Citus distribution by click_id, issue 15); no foreign key.
 */
@Entity('conversion_adjustments')
@Unique('UQ_conversion_adjustments_dedup', ['click_id', 'conversion_id', 'dedup_key'])
@Index('IDX_conversion_adjustments_partner_adjustment', ['partner_id', 'adjustment_id'])
export class ConversionAdjustment {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  conversion_id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 8 })
  type: AdjustmentType;

  /** The advertiser's own id of the adjustment, when sent. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  adjustment_id: string | null;

  /** `id:<adjustment_id>`, or `auto:<type>|<adjusted_at>|<value>` when none was sent. */
  @Column({ type: 'varchar', length: 300 })
  dedup_key: string;

  /** restate: the new total; refund: the amount off; retract: null. Exact decimal. */
  @Column({ ...MONEY, nullable: true })
  value: string | null;

  @Column({ ...TIMESTAMP })
  adjusted_at: Date;

  @Column({ type: 'varchar', length: 32 })
  outcome: AdjustmentOutcome;

  /** The conversion's net value before and after this adjustment was recorded. */
  @Column({ ...MONEY })
  value_before: string;

  @Column({ ...MONEY })
  value_after: string;

  @Column({ type: 'varchar', length: 16 })
  status_after: ConversionStatus;

  @Column({ ...TIMESTAMP })
  created_at: Date;
}
