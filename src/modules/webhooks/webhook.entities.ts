import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';

export { WEBHOOK_EVENTS, type WebhookEvent } from '../webhook-outbox/webhook-events';

/**
 * A partner's webhook endpoint. `events` is stored as `,a,b,` (leading and trailing commas) so the
 * outbox statement matches a subscription with one portable `LIKE '%,type,%'`. The secrets are
 * stored encrypted (AES-256-GCM, see WebhookSecrets), never in the clear.
 */
@Entity('webhook_endpoints')
@Index('IDX_webhook_endpoints_partner', ['partner_id', 'created_at', 'id'])
export class WebhookEndpoint {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  @Column({ type: 'varchar', length: 255 })
  events: string;

  @Column({ type: 'boolean' })
  enabled: boolean;

  /** Why the service disabled it (`gone`: a 410; `failing`: failing for WEBHOOK_DISABLE_AFTER); null otherwise. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  disabled_reason: string | null;

  @Column({ type: 'varchar', length: 255 })
  secret_enc: string;

  /** The secret before the last rotation, valid (both signatures sent) until previous_secret_until. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  previous_secret_enc: string | null;

  @Column({ ...TIMESTAMP, nullable: true })
  previous_secret_until: Date | null;

  /** Start of the current run of failed attempts; null after a success. */
  @Column({ ...TIMESTAMP, nullable: true })
  failing_since: Date | null;

  @Column({ ...TIMESTAMP })
  created_at: Date;

  @Column({ ...TIMESTAMP })
  updated_at: Date;
}

/**
 * The transactional outbox: one row per (event, endpoint), written in the transaction (or the
 * statement) of the conversion it describes. Click-scoped (issue 15): the key starts with click_id.
 */
@Entity('webhook_messages')
@Index('IDX_webhook_messages_pending', ['next_attempt_at', 'created_at'], { where: "status = 'pending'" })
@Index('IDX_webhook_messages_endpoint', ['endpoint_id', 'created_at', 'id'])
export class WebhookMessage {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  /** `msg_` + 32 hex digits: the webhook-id header, the same on every attempt and replay. */
  @PrimaryColumn({ type: 'varchar', length: 40 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  endpoint_id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 36 })
  conversion_id: string;

  @Column({ type: 'varchar', length: 32 })
  type: string;

  /**
   * pending | delivered | failed (retries exhausted) | held (its endpoint is disabled; pending
   * again when it is enabled) | cancelled (its endpoint was deleted).
   */
  @Column({ type: 'varchar', length: 16 })
  status: string;

  @Column({ type: 'integer' })
  attempts: number;

  /** The event's time (the body's `timestamp`). */
  @Column({ ...TIMESTAMP })
  created_at: Date;

  /** When the next attempt is due; while an attempt runs, the end of its lease. */
  @Column({ ...TIMESTAMP })
  next_attempt_at: Date;

  /** Start of the current retry window (the event's time, or the replay's). */
  @Column({ ...TIMESTAMP })
  cycle_started_at: Date;

  /** The JSON body, fixed at the first attempt, so every retry and replay sends the same bytes. */
  @Column({ type: 'text', nullable: true })
  body: string | null;

  @Column({ ...TIMESTAMP, nullable: true })
  delivered_at: Date | null;
}

/** One delivery attempt (the delivery log). Click-scoped like its message. */
@Entity('webhook_deliveries')
@Index('IDX_webhook_deliveries_endpoint', ['endpoint_id', 'attempted_at', 'id'])
export class WebhookDelivery {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 40 })
  message_id: string;

  @Column({ type: 'varchar', length: 36 })
  endpoint_id: string;

  @Column({ type: 'varchar', length: 36 })
  conversion_id: string;

  @Column({ type: 'varchar', length: 32 })
  type: string;

  @Column({ type: 'integer' })
  attempt: number;

  @Column({ ...TIMESTAMP })
  attempted_at: Date;

  @Column({ type: 'integer', nullable: true })
  status_code: number | null;

  @Column({ type: 'integer' })
  latency_ms: number;

  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;

  /** When the message is tried next; null when delivered or given up. */
  @Column({ ...TIMESTAMP, nullable: true })
  next_attempt_at: Date | null;
}
