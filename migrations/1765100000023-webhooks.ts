import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { DbKind, migrationTypes } from '../src/database/column-types';

/**
 * Webhooks (issue 13): partners' endpoints, the transactional outbox (webhook_messages, written
 * with the conversion it describes) and the delivery log. The click-scoped tables carry click_id
 * first in their primary keys (issue 15 distributes them by click_id).
 */
export class Webhooks1765100000023 implements MigrationInterface {
  name = 'Webhooks1765100000023';

  public async up(q: QueryRunner): Promise<void> {
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    const t = migrationTypes(kind);
    await q.createTable(
      new Table({
        name: 'webhook_endpoints',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'partner_id', type: 'varchar', length: '36' },
          { name: 'url', type: 'varchar', length: '2048' },
          { name: 'events', type: 'varchar', length: '255' },
          { name: 'enabled', type: 'boolean' },
          { name: 'disabled_reason', type: 'varchar', length: '16', isNullable: true },
          { name: 'secret_enc', type: 'varchar', length: '255' },
          { name: 'previous_secret_enc', type: 'varchar', length: '255', isNullable: true },
          { name: 'previous_secret_until', type: t.timestamp, isNullable: true },
          { name: 'failing_since', type: t.timestamp, isNullable: true },
          { name: 'created_at', type: t.timestamp },
          { name: 'updated_at', type: t.timestamp },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_webhook_endpoints_partner',
            columnNames: ['partner_id', 'created_at', 'id'],
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_messages',
        columns: [
          { name: 'click_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'id', type: 'varchar', length: '40', isPrimary: true },
          { name: 'endpoint_id', type: 'varchar', length: '36' },
          { name: 'partner_id', type: 'varchar', length: '36' },
          { name: 'conversion_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'status', type: 'varchar', length: '16' },
          { name: 'attempts', type: 'integer' },
          { name: 'created_at', type: t.timestamp },
          { name: 'next_attempt_at', type: t.timestamp },
          { name: 'cycle_started_at', type: t.timestamp },
          { name: 'body', type: 'text', isNullable: true },
          { name: 'delivered_at', type: t.timestamp, isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'IDX_webhook_messages_due', columnNames: ['status', 'next_attempt_at'] }),
          new TableIndex({
            name: 'IDX_webhook_messages_endpoint',
            columnNames: ['endpoint_id', 'created_at', 'id'],
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'webhook_deliveries',
        columns: [
          { name: 'click_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'message_id', type: 'varchar', length: '40' },
          { name: 'endpoint_id', type: 'varchar', length: '36' },
          { name: 'conversion_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '32' },
          { name: 'attempt', type: 'integer' },
          { name: 'attempted_at', type: t.timestamp },
          { name: 'status_code', type: 'integer', isNullable: true },
          { name: 'latency_ms', type: 'integer' },
          { name: 'error', type: 'varchar', length: '500', isNullable: true },
          { name: 'next_attempt_at', type: t.timestamp, isNullable: true },
        ],
        indices: [
          new TableIndex({
            name: 'IDX_webhook_deliveries_endpoint',
            columnNames: ['endpoint_id', 'attempted_at', 'id'],
          }),
        ],
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.dropTable('webhook_deliveries');
    await q.dropTable('webhook_messages');
    await q.dropTable('webhook_endpoints');
  }
}
