import { createHash } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The key made from BOOTSTRAP_ADMIN_KEY used to show the operator's secret's first 12 characters
 * as its prefix. It now shows thr_ak_[h:<8 hex digits of a hash of the stored hash>], computed
 * from the stored hash alone (the same rule as suppliedKeyPrefix in the auth module, written out
 * here so that this migration never changes). Data only: the schema is unchanged.
 */
export class HideSuppliedKeyPrefixes1764900000010 implements MigrationInterface {
  name = 'HideSuppliedKeyPrefixes1764900000010';

  async up(q: QueryRunner): Promise<void> {
    const rows = await q.manager
      .createQueryBuilder()
      .select(['k.id AS id', 'k.key_hash AS key_hash'])
      .from('api_keys', 'k')
      .where('k.role = :role AND k.name = :name', { role: 'admin', name: 'bootstrap (BOOTSTRAP_ADMIN_KEY)' })
      .getRawMany<{ id: string; key_hash: string }>();
    for (const r of rows) {
      const prefix = `thr_ak_[h:${createHash('sha256').update(r.key_hash, 'utf8').digest('hex').slice(0, 8)}]`;
      await q.manager.createQueryBuilder().update('api_keys').set({ prefix }).where('id = :id', { id: r.id }).execute();
    }
  }

  async down(): Promise<void> {
    // The old prefix was part of a secret: it is not restored.
  }
}
