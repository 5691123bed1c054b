import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';

/*
 * Issue 12 (batch throughput): every conversion insert maintains every index of `conversions`;
 * measured with PostgreSQL 15 on the 2-core benchmark machine, each btree costs ~7-10 µs of
 * database CPU per row (README, "The batch route against issue 12's target"). Two changes that no
 * query pays for:
 *
 * - IDX_conversions_click (click_id) is dropped, on every driver: since migration 1765900000015
 *   the primary key is (click_id, id), and its index, click_id first, serves every lookup by click
 *   (the listings' click_id filter, diagnostics, adjustments, the write statement).
 * - PostgreSQL only: IDX_conversions_id (id) and IDX_conversions_order (order_id) become hash
 *   indexes. Both serve equality lookups only (a conversion by id; conversions by order id, a few
 *   rows sorted afterwards), which a hash index answers too, and a hash index is cheaper to insert
 *   into (a 4-byte hash per entry instead of the 36- or up-to-255-character text): ~5 µs less per
 *   row for the two, measured. SQLite has no hash indexes: there they stay btrees (the entity's
 *   `type` is dropped for SQLite, see adaptColumnTypes).
 *
 * On Citus, the index DDL on the distributed table is propagated to its shards.
 */
export class ConversionIndexCosts1765900000020 implements MigrationInterface {
  name = 'ConversionIndexCosts1765900000020';

  public async up(q: QueryRunner): Promise<void> {
    await q.dropIndex('conversions', 'IDX_conversions_click');
    if (q.connection.options.type !== 'postgres') return;
    for (const [name, column] of HASHED) {
      await q.dropIndex('conversions', name);
      await q.createIndex('conversions', new TableIndex({ name, columnNames: [column], type: 'hash' }));
    }
  }

  public async down(q: QueryRunner): Promise<void> {
    if (q.connection.options.type === 'postgres') {
      for (const [name, column] of HASHED) {
        await q.dropIndex('conversions', name);
        await q.createIndex('conversions', new TableIndex({ name, columnNames: [column] }));
      }
    }
    await q.createIndex('conversions', new TableIndex({ name: 'IDX_conversions_click', columnNames: ['click_id'] }));
  }
}

const HASHED: [string, string][] = [
  ['IDX_conversions_id', 'id'],
  ['IDX_conversions_order', 'order_id'],
];
