import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/* PostgreSQL only (see POSTGRES_ONLY_INDEXES in src/database/column-types.ts): an explicit driver check. */

/**
 * GET /api/conversions always filters by partner, so partner + event_type and partner + source
 * need their own keyset indexes: without them a partner whose rows rarely (or never) match scans
 * all of its rows (measured: 270 ms for a 20,000-row partner with no match).
 */
export class PartnerFilterIndexes1764300000001 implements MigrationInterface {
  name = 'PartnerFilterIndexes1764300000001';

  public async up(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.createIndices('conversions', [
      new TableIndex({
        name: 'IDX_conversions_partner_event_time',
        columnNames: ['partner_id', 'event_type', 'conversion_time', 'id'],
      }),
      new TableIndex({
        name: 'IDX_conversions_partner_source_time',
        columnNames: ['partner_id', 'source', 'conversion_time', 'id'],
      }),
    ]);
  }

  public async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type !== 'postgres') return;
    await q.dropIndex('conversions', 'IDX_conversions_partner_source_time');
    await q.dropIndex('conversions', 'IDX_conversions_partner_event_time');
  }
}
