import { MigrationInterface, QueryRunner } from 'typeorm';

/*
 * Issue 13: a disabled endpoint's undelivered messages are `held` (out of the partial index of
 * pending messages, so the claim never reads past them) and pending again when it is enabled.
 * The messages of endpoints disabled before this migration are held now. No schema change: the
 * status column is a varchar. On Citus the UPDATE of the distributed table with a subquery on
 * the reference table runs on every shard.
 */
export class WebhookHeldMessages1765900000040 implements MigrationInterface {
  name = 'WebhookHeldMessages1765900000040';

  public async up(q: QueryRunner): Promise<void> {
    const disabled = q.connection.options.type === 'postgres' ? 'false' : '0';
    await q.query(
      `UPDATE webhook_messages SET status = 'held' WHERE status = 'pending'
       AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled = ${disabled})`,
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE webhook_messages SET status = 'pending' WHERE status = 'held'`);
  }
}
