import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/**
 * Attribution-time checks (issue 12): each conversion's verdict (`ok`, `precedes_click`,
 * `outside_window`, `future`; null for rows recorded before the checks existed: never checked), and
 * each partner's attribution window (days; null: ATTRIBUTION_WINDOW) and policy (`flag` or `reject`).
 */
export class AttributionChecks1765000000012 implements MigrationInterface {
  name = 'AttributionChecks1765000000012';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'conversions',
      new TableColumn({ name: 'attribution_status', type: 'varchar', length: '16', isNullable: true }),
    );
    await q.addColumn(
      'partners',
      new TableColumn({ name: 'attribution_window_days', type: 'integer', isNullable: true }),
    );
    await q.addColumn(
      'partners',
      new TableColumn({ name: 'attribution_policy', type: 'varchar', length: '8', default: "'flag'" }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('partners', 'attribution_policy');
    await q.dropColumn('partners', 'attribution_window_days');
    await q.dropColumn('conversions', 'attribution_status');
  }
}
