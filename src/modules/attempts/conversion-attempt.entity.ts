import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DataMode } from '../../common/data-mode';
import { TIMESTAMP } from '../../database/column-types';

export type AttemptSource = 'api' | 'tag' | 'batch';

/**
 * One refused conversion attempt by a known partner (never an unauthenticated one), kept for
 * ATTEMPTS_RETENTION so support can say why a sale did not count; or one answered `duplicate`
 * (reason `duplicate`, status 200: an accepted retry, not a refusal), so the daily summary can
 * count them. Written in the background.
 */
@Entity('conversion_attempts')
@Index('IDX_conversion_attempts_click_at', ['click_id', 'at'])
@Index('IDX_conversion_attempts_partner_at', ['partner_id', 'at'])
@Index('IDX_conversion_attempts_at', ['at'])
@Index('IDX_conversion_attempts_test_at', ['at'], { where: "mode = 'test'" })
export class ConversionAttempt {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ ...TIMESTAMP })
  at: Date;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  /** The API key used; null for the Tag (its credential is a signed click). */
  @Column({ type: 'varchar', length: 36, nullable: true })
  key_id: string | null;

  @Column({ type: 'varchar', length: 8 })
  source: AttemptSource;

  /** The fields as sent (bounded to 255 characters). */
  @Column({ type: 'varchar', length: 255, nullable: true })
  click_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  order_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  event_id: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  event_type: string | null;

  @Column({ type: 'integer' })
  status: number;

  /** click_not_found, click_missing_bid, validation, rate_limited, … (see REFUSAL_REASONS). */
  @Column({ type: 'varchar', length: 64 })
  reason: string;

  /** For a 422: the first error's `loc` (joined with dots) and `type`. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  error_loc: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  error_type: string | null;

  /** The request id (X-Request-Id when the client sent one: up to 128 characters). */
  @Column({ type: 'varchar', length: 128, nullable: true })
  request_id: string | null;

  /** For a duplicate: the dedup layer that matched (idempotency_key, event_id, order_id). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  matched_on?: string | null;

  /** For a duplicate: the id of the conversion it matched. */
  @Column({ type: 'varchar', length: 36, nullable: true })
  matched_conversion_id?: string | null;

  /** `test` for a test key's attempt, or the Tag's on a test click (resolved when written). */
  @Column({ type: 'varchar', length: 4, default: 'live' })
  mode?: DataMode;
}
