import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * The sandbox (issue 12): every key, click, conversion and refused attempt is `live` or `test`.
 * Rows from before are live. Test rows are few (purged after TEST_DATA_TTL), so the indexes that
 * find them for the purge and the test-events feed are partial: live writes never touch them.
 */
export class SandboxMode1765100000012 implements MigrationInterface {
  name = 'SandboxMode1765100000012';

  async up(q: QueryRunner): Promise<void> {
    for (const table of ['api_keys', 'clicks', 'conversions', 'conversion_attempts']) {
      await q.addColumn(table, new TableColumn({ name: 'mode', type: 'varchar', length: '4', default: "'live'" }));
    }
    await q.createIndex(
      'conversions',
      new TableIndex({ name: 'IDX_conversions_test_created', columnNames: ['created_at'], where: "mode = 'test'" }),
    );
    await q.createIndex(
      'clicks',
      new TableIndex({ name: 'IDX_clicks_test_created', columnNames: ['created_at'], where: "mode = 'test'" }),
    );
    await q.createIndex(
      'conversion_attempts',
      new TableIndex({ name: 'IDX_conversion_attempts_test_at', columnNames: ['at'], where: "mode = 'test'" }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropIndex('conversion_attempts', 'IDX_conversion_attempts_test_at');
    await q.dropIndex('clicks', 'IDX_clicks_test_created');
    await q.dropIndex('conversions', 'IDX_conversions_test_created');
    for (const table of ['conversion_attempts', 'conversions', 'clicks', 'api_keys']) await q.dropColumn(table, 'mode');
  }
}
