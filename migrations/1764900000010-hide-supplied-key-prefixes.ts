import { createHash } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';

const BOOTSTRAP_NAME = 'bootstrap (BOOTSTRAP_ADMIN_KEY)';

/**
 * The key made from BOOTSTRAP_ADMIN_KEY used to show the operator's secret's first 12 characters
 * as its prefix. It now shows thr_ak_[h:<8 hex digits of a hash of the stored hash>], computed
 * from the stored hash alone (the same rule as suppliedKeyPrefix in the auth module, written out
 * here so that this migration never changes). The key's audit entries (revoke, rotate), which
 * copied the old prefix into before/after, get the new one too. Data only: no schema change.
 */
export class HideSuppliedKeyPrefixes1764900000010 implements MigrationInterface {
  name = 'HideSuppliedKeyPrefixes1764900000010';

  async up(q: QueryRunner): Promise<void> {
    const pg = q.connection.options.type === 'postgres';
    const keys = await q.manager
      .createQueryBuilder()
      .select(['k.id AS id', 'k.key_hash AS key_hash', 'k.prefix AS prefix'])
      .from('api_keys', 'k')
      .where('k.role = :role AND k.name = :name', { role: 'admin', name: BOOTSTRAP_NAME })
      .getRawMany<{ id: string; key_hash: string; prefix: string }>();
    for (const k of keys) {
      const prefix = `thr_ak_[h:${createHash('sha256').update(k.key_hash, 'utf8').digest('hex').slice(0, 8)}]`;
      if (k.prefix === prefix) continue;
      await q.manager.createQueryBuilder().update('api_keys').set({ prefix }).where('id = :id', { id: k.id }).execute();
      const entries = await q.manager
        .createQueryBuilder()
        .select(['a.id AS id', 'a.before AS before', 'a.after AS after'])
        .from('audit_log', 'a')
        .where('a.target_type = :type AND a.target_id = :id', { type: 'api_key', id: k.id })
        .getRawMany<{ id: string; before: unknown; after: unknown }>();
      for (const e of entries) {
        const fix = (v: unknown): string | null => {
          const o = (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown> | null;
          if (o && o.prefix === k.prefix) o.prefix = prefix;
          return o === null ? null : JSON.stringify(o);
        };
        // Raw SQL: the values are JSON text already (a query builder would encode them again where it knows the entity).
        const sql = pg
          ? 'UPDATE audit_log SET "before" = $1, "after" = $2 WHERE id = $3'
          : 'UPDATE audit_log SET "before" = ?, "after" = ? WHERE id = ?';
        await q.query(sql, [fix(e.before), fix(e.after), e.id]);
      }
    }
  }

  async down(): Promise<void> {
    // The old prefix was part of a secret: it is not restored.
  }
}
