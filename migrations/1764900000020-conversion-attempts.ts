import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { DbKind, migrationTypes } from '../src/database/column-types';

/** Refused conversion attempts, kept for ATTEMPTS_RETENTION (issue 14). */
export class ConversionAttempts1764900000020 implements MigrationInterface {
  name = 'ConversionAttempts1764900000020';

  public async up(q: QueryRunner): Promise<void> {
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    const t = migrationTypes(kind);
    await q.createTable(
      new Table({
        name: 'conversion_attempts',
        columns: [
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'at', type: t.timestamp },
          { name: 'partner_id', type: 'varchar', length: '36' },
          { name: 'key_id', type: 'varchar', length: '36', isNullable: true },
          { name: 'source', type: 'varchar', length: '8' },
          { name: 'click_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'order_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'event_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'event_type', type: 'varchar', length: '255', isNullable: true },
          { name: 'status', type: 'integer' },
          { name: 'reason', type: 'varchar', length: '64' },
          { name: 'error_loc', type: 'varchar', length: '255', isNullable: true },
          { name: 'error_type', type: 'varchar', length: '64', isNullable: true },
          { name: 'request_id', type: 'varchar', length: '128', isNullable: true },
        ],
        indices: [
          new TableIndex({ name: 'IDX_conversion_attempts_click_at', columnNames: ['click_id', 'at'] }),
          new TableIndex({ name: 'IDX_conversion_attempts_partner_at', columnNames: ['partner_id', 'at'] }),
          new TableIndex({ name: 'IDX_conversion_attempts_at', columnNames: ['at'] }),
        ],
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.dropTable('conversion_attempts');
  }
}
