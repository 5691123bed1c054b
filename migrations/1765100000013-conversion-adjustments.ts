import { MigrationInterface, QueryRunner, Table, TableColumn, TableIndex, TableUnique } from 'typeorm';
import { DbKind, migrationTypes } from '../src/database/column-types';

/**
 * Adjustments (issue 13): a conversion's net state, and every adjustment as an immutable row.
 *
 * `current_value` and `adjusted_at` are null until the first adjustment: null `current_value` means
 * "never adjusted, the net value is `conversion_value`". Old rows need no backfill (no UPDATE of
 * every row, no table rewrite), and the conversion insert path writes no extra column. `status`
 * is `active` for every row by a constant default (on PostgreSQL 11+ a metadata-only change).
 *
 * `conversion_adjustments` hangs off a click: it carries `click_id`, which leads its primary key
 * and its one unique constraint (Citus distribution by click_id, issue 15), and has no foreign key.
 */
export class ConversionAdjustments1765100000013 implements MigrationInterface {
  name = 'ConversionAdjustments1765100000013';

  public async up(q: QueryRunner): Promise<void> {
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    const t = migrationTypes(kind);
    const money =
      kind === 'postgres' ? { type: 'numeric', precision: 20, scale: 6 } : { type: 'varchar', length: '40' };
    await q.addColumns('conversions', [
      new TableColumn({ name: 'current_value', ...money, isNullable: true }),
      new TableColumn({ name: 'status', type: 'varchar', length: '16', default: "'active'" }),
      new TableColumn({ name: 'adjusted_at', type: t.timestamp, isNullable: true }),
    ]);
    await q.createTable(
      new Table({
        name: 'conversion_adjustments',
        columns: [
          { name: 'click_id', type: 'varchar', length: '255', isPrimary: true },
          { name: 'id', type: 'varchar', length: '36', isPrimary: true },
          { name: 'conversion_id', type: 'varchar', length: '36' },
          { name: 'partner_id', type: 'varchar', length: '36' },
          { name: 'type', type: 'varchar', length: '8' },
          { name: 'adjustment_id', type: 'varchar', length: '255', isNullable: true },
          { name: 'dedup_key', type: 'varchar', length: '300' },
          { name: 'value', ...money, isNullable: true },
          { name: 'adjusted_at', type: t.timestamp },
          { name: 'outcome', type: 'varchar', length: '32' },
          { name: 'value_before', ...money },
          { name: 'value_after', ...money },
          { name: 'status_after', type: 'varchar', length: '16' },
          { name: 'created_at', type: t.timestamp },
        ],
        uniques: [
          new TableUnique({
            name: 'UQ_conversion_adjustments_dedup',
            columnNames: ['click_id', 'conversion_id', 'dedup_key'],
          }),
        ],
        indices: [
          new TableIndex({
            name: 'IDX_conversion_adjustments_partner_adjustment',
            columnNames: ['partner_id', 'adjustment_id'],
          }),
        ],
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.dropTable('conversion_adjustments');
    await q.dropColumn('conversions', 'adjusted_at');
    await q.dropColumn('conversions', 'status');
    await q.dropColumn('conversions', 'current_value');
  }
}
