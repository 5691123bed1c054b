import { Column, Entity, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';

export type AttributionPolicy = 'flag' | 'reject';
/** A partner's attribution settings: window in days (null: ATTRIBUTION_WINDOW) and policy. */
export interface PartnerAttribution {
  attribution_window_days: number | null;
  attribution_policy: AttributionPolicy;
}
export const ATTRIBUTION_POLICIES: readonly AttributionPolicy[] = ['flag', 'reject'];

@Entity('partners')
export class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  /** A disabled partner's keys stop working. */
  @Column({ ...TIMESTAMP, nullable: true })
  disabled_at: Date | null;

  @Column({ ...TIMESTAMP })
  created_at: Date;

  /** Requests per minute per API key of this partner; null: the RATE_LIMIT_PER_MINUTE default; 0: unlimited. */
  @Column({ type: 'integer', nullable: true })
  rate_limit_per_minute: number | null;

  /** The attribution window in days; null: ATTRIBUTION_WINDOW (30 days by default). */
  @Column({ type: 'integer', nullable: true })
  attribution_window_days?: number | null;

  /** What a conversion failing an attribution-time check gets: `flag` (recorded with its verdict) or `reject` (422). */
  @Column({ type: 'varchar', length: 8, default: 'flag' })
  attribution_policy?: AttributionPolicy;
}
