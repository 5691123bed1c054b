import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/*
 * Issue 13 (the webhook A/B): the outbox row is written with every conversion, so each of its
 * indexes is paid per conversion. IDX_webhook_messages_due (status, next_attempt_at) held an entry
 * for every message ever written, delivered or not, and the claim (pending, due, oldest first by
 * next_attempt_at then created_at) sorted what it read. It becomes a partial index of the pending
 * messages only, in the claim's order: a delivered, failed or cancelled message leaves it, so it
 * stays as small as the backlog, and the claim reads it off its front with no sort.
 * On Citus the index DDL on the distributed table is propagated to its shards.
 */
export class WebhookPendingIndex1765900000030 implements MigrationInterface {
  name = 'WebhookPendingIndex1765900000030';

  public async up(q: QueryRunner): Promise<void> {
    await q.dropIndex('webhook_messages', 'IDX_webhook_messages_due');
    await q.createIndex(
      'webhook_messages',
      new TableIndex({
        name: 'IDX_webhook_messages_pending',
        columnNames: ['next_attempt_at', 'created_at'],
        where: "status = 'pending'",
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('webhook_messages', 'IDX_webhook_messages_pending');
    await q.createIndex(
      'webhook_messages',
      new TableIndex({ name: 'IDX_webhook_messages_due', columnNames: ['status', 'next_attempt_at'] }),
    );
  }
}
