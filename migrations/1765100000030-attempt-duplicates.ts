import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Duplicates are kept in conversion_attempts (issue 14: the daily summary counts them), as rows
 * with reason `duplicate` and status 200, naming the dedup layer that matched and the conversion
 * matched. Nullable columns: refused attempts leave them empty; no index (read by click / partner).
 */
export class AttemptDuplicates1765100000030 implements MigrationInterface {
  name = 'AttemptDuplicates1765100000030';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'conversion_attempts',
      new TableColumn({ name: 'matched_on', type: 'varchar', length: '16', isNullable: true }),
    );
    await q.addColumn(
      'conversion_attempts',
      new TableColumn({ name: 'matched_conversion_id', type: 'varchar', length: '36', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('conversion_attempts', 'matched_conversion_id');
    await q.dropColumn('conversion_attempts', 'matched_on');
  }
}
