import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { DbKind, migrationTypes, POSTGRES_ONLY_INDEXES } from '../src/database/column-types';

/**
 * The admin surface: indexes that serve every conversion filter newest-first by keyset
 * ((filter, conversion_time, id), scanned backwards), and the audit log of admin writes.
 * partner_id and click_id are served by the initial schema's indexes.
 */
export class AdminIndexesAudit1764300000000 implements MigrationInterface {
  name = 'AdminIndexesAudit1764300000000';

  public async up(q: QueryRunner): Promise<void> {
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    const t = migrationTypes(kind);
    const indices = [
      new TableIndex({ name: 'IDX_conversions_time', columnNames: ['conversion_time', 'id'] }),
      new TableIndex({ name: 'IDX_conversions_tag_time', columnNames: ['tag_id', 'conversion_time', 'id'] }),
      new TableIndex({ name: 'IDX_conversions_event_time', columnNames: ['event_type', 'conversion_time', 'id'] }),
      new TableIndex({ name: 'IDX_conversions_order', columnNames: ['order_id'] }),
    ];
    // The listing indexes are PostgreSQL-only (see POSTGRES_ONLY_INDEXES): an explicit driver check.
    await q.createIndices(
      'conversions',
      indices.filter((i) => kind === 'postgres' || !POSTGRES_ONLY_INDEXES.has(i.name!)),
    );
    await q.createTable(
      new Table({
        name: 'audit_log',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'at', type: t.timestamp },
          { name: 'actor_key_id', type: 'varchar', length: '36' },
          { name: 'actor_role', type: 'varchar', length: '16' },
          { name: 'action', type: 'varchar', length: '64' },
          { name: 'target_type', type: 'varchar', length: '32' },
          { name: 'target_id', type: 'varchar', length: '255' },
          { name: 'before', type: 'json', isNullable: true },
          { name: 'after', type: 'json', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'IDX_audit_log_at', columnNames: ['at', 'id'] }),
          new TableIndex({ name: 'IDX_audit_log_target', columnNames: ['target_id', 'at', 'id'] }),
        ],
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.dropTable('audit_log');
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    for (const name of [
      'IDX_conversions_order',
      'IDX_conversions_event_time',
      'IDX_conversions_tag_time',
      'IDX_conversions_time',
    ]) {
      if (kind === 'postgres' || !POSTGRES_ONLY_INDEXES.has(name)) await q.dropIndex('conversions', name);
    }
  }
}
