import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * One row per dedup key ever claimed. The primary key (dedup_key, click_id, event_type) is the
 * database backstop against double counting. A claim older than the window is taken over by the
 * next conversion with the same key (the window is exact: it is checked in the claiming statement,
 * not by a clean-up job). Kept apart from `conversions` because a key may legitimately produce a
 * second row once its window has passed, which a unique constraint on conversions would forbid.
 */
@Entity('dedup_claims')
export class DedupClaim {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  dedup_key: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  event_type: string;

  @Column({ type: 'varchar', length: 36 })
  conversion_id: string;

  /** Epoch milliseconds, so the window comparison is exact and identical on both drivers. */
  @Column({ type: 'bigint' })
  claimed_at: string;
}
