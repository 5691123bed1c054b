import { MigrationInterface, QueryRunner, Table, TableForeignKey, TableIndex } from 'typeorm';
import { DbKind, migrationTypes } from '../src/database/column-types';

export class InitialSchema1764200000000 implements MigrationInterface {
  name = 'InitialSchema1764200000000';

  public async up(q: QueryRunner): Promise<void> {
    const kind: DbKind = q.connection.options.type === 'postgres' ? 'postgres' : 'sqlite';
    const t = migrationTypes(kind);
    const ts = (name: string, nullable = false) => ({ name, type: t.timestamp, isNullable: nullable });
    const str = (name: string, length: number, nullable = false) => ({
      name,
      type: 'varchar',
      length: String(length),
      isNullable: nullable,
    });
    const money =
      kind === 'postgres'
        ? { name: 'conversion_value', type: 'numeric', precision: 20, scale: 6 }
        : { name: 'conversion_value', type: 'varchar', length: '40' };

    await q.createTable(
      new Table({
        name: 'partners',
        columns: [{ ...str('id', 36), isPrimary: true }, str('name', 255), ts('disabled_at', true), ts('created_at')],
      }),
    );
    await q.createTable(
      new Table({
        name: 'tags',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('partner_id', 36),
          str('name', 255),
          { name: 'allowed_origins', type: 'json' },
          ts('created_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_tags_partner', columnNames: ['partner_id'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_tags_partner',
            columnNames: ['partner_id'],
            referencedTableName: 'partners',
            referencedColumnNames: ['id'],
            onDelete: 'RESTRICT',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'api_keys',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('role', 16),
          str('partner_id', 36, true),
          str('name', 255, true),
          str('prefix', 24),
          str('key_hash', 64),
          ts('created_at'),
          ts('expires_at', true),
          ts('revoked_at', true),
          ts('last_used_at', true),
        ],
        indices: [
          new TableIndex({ name: 'UQ_api_keys_hash', columnNames: ['key_hash'], isUnique: true }),
          new TableIndex({ name: 'IDX_api_keys_partner', columnNames: ['partner_id'] }),
        ],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_api_keys_partner',
            columnNames: ['partner_id'],
            referencedTableName: 'partners',
            referencedColumnNames: ['id'],
            onDelete: 'RESTRICT',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'clicks',
        columns: [
          { ...str('click_id', 255), isPrimary: true },
          str('tag_id', 36),
          str('partner_id', 36),
          str('bid_id', 255, true),
          ts('clicked_at'),
          str('landing_url', 2048, true),
          ts('created_at'),
        ],
        indices: [new TableIndex({ name: 'IDX_clicks_tag', columnNames: ['tag_id'] })],
        foreignKeys: [
          new TableForeignKey({
            name: 'FK_clicks_tag',
            columnNames: ['tag_id'],
            referencedTableName: 'tags',
            referencedColumnNames: ['id'],
            onDelete: 'RESTRICT',
            onUpdate: 'NO ACTION',
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'conversions',
        columns: [
          { ...str('id', 36), isPrimary: true },
          str('partner_id', 36),
          str('tag_id', 36),
          str('click_id', 255),
          str('bid_id', 255),
          str('source', 8),
          str('event_type', 255),
          ts('conversion_time'),
          money,
          str('currency', 3),
          str('order_id', 255, true),
          str('event_id', 255, true),
          str('dedup_key', 255, true),
          str('dedup_layer', 16, true),
          str('page_url', 2048, true),
          str('referrer', 2048, true),
          str('user_agent', 1024, true),
          str('session_id', 255, true),
          str('client_id', 255, true),
          { name: 'params', type: 'json' },
          ts('created_at'),
        ],
        indices: [
          new TableIndex({ name: 'IDX_conversions_click', columnNames: ['click_id'] }),
          new TableIndex({
            name: 'IDX_conversions_partner_time',
            columnNames: ['partner_id', 'conversion_time', 'id'],
          }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'dedup_claims',
        columns: [
          { ...str('dedup_key', 255), isPrimary: true },
          { ...str('click_id', 255), isPrimary: true },
          { ...str('event_type', 255), isPrimary: true },
          str('conversion_id', 36),
          { name: 'claimed_at', type: 'bigint' },
        ],
      }),
    );
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const table of ['dedup_claims', 'conversions', 'clicks', 'api_keys', 'tags', 'partners']) {
      await q.dropTable(table);
    }
  }
}
