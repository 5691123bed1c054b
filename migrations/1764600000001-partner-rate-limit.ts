import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';

/** A partner's own rate limit (requests per minute per API key); null: the RATE_LIMIT_PER_MINUTE default. */
export class PartnerRateLimit1764600000001 implements MigrationInterface {
  name = 'PartnerRateLimit1764600000001';

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn(
      'partners',
      new TableColumn({ name: 'rate_limit_per_minute', type: 'integer', isNullable: true }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn('partners', 'rate_limit_per_minute');
  }
}
