import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull, Not, Repository } from 'typeorm';
import { fromDbTime, sqliteTime } from '../../database/column-types';
import { withAdvisoryLock } from '../../database/migrate-with-lock';
import { TransactionScope } from '../../database/transaction-scope';
import type { DataMode } from '../../common/data-mode';
import { ApiKey, Role } from './api-key.entity';

export interface KeyRecord {
  id: string;
  role: Role;
  partner_id: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  partner_disabled_at: Date | null;
  mode: DataMode;
}

/** The advisory lock under which a replica makes the bootstrap admin key ('thrab' in ASCII). */
const BOOTSTRAP_LOCK_KEY = 0x7468726162;

@Injectable()
export class ApiKeysRepository {
  private readonly repo: Repository<ApiKey>;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    tx: TransactionScope,
  ) {
    this.repo = tx.repository(ApiKey);
  }

  /**
   * Runs `fn` while no other replica runs its own: a PostgreSQL advisory lock, so replicas booting
   * together on an empty database make one bootstrap admin key (not a duplicate-key error, nor two
   * generated keys).
   */
  underBootstrapLock<T>(fn: () => Promise<T>): Promise<T> {
    return withAdvisoryLock(this.ds, BOOTSTRAP_LOCK_KEY, () => fn());
  }

  /** The key with this hash and its partner's state, in one query. */
  async findByHash(hash: string): Promise<KeyRecord | null> {
    const row = await this.repo
      .createQueryBuilder('k')
      .leftJoin('partners', 'p', 'p.id = k.partner_id')
      .select([
        'k.id AS id',
        'k.role AS role',
        'k.partner_id AS partner_id',
        'k.expires_at AS expires_at',
        'k.revoked_at AS revoked_at',
        'p.disabled_at AS partner_disabled_at',
        'k.mode AS mode',
      ])
      .where('k.key_hash = :hash', { hash })
      .getRawOne<Record<string, unknown>>();
    if (!row) return null;
    return {
      id: row.id as string,
      role: row.role as Role,
      partner_id: (row.partner_id as string | null) ?? null,
      expires_at: fromDbTime(row.expires_at),
      revoked_at: fromDbTime(row.revoked_at),
      partner_disabled_at: fromDbTime(row.partner_disabled_at),
      mode: row.mode === 'test' ? 'test' : 'live',
    };
  }

  insert(key: ApiKey): Promise<unknown> {
    return this.repo.insert(key);
  }

  findById(id: string): Promise<ApiKey | null> {
    return this.repo.findOneBy({ id });
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const res = await this.repo.update({ id, revoked_at: IsNull() }, { revoked_at: at });
    return (res.affected ?? 0) > 0;
  }

  /** Every key's metadata (never the hash), optionally one partner's, oldest first. */
  listKeys(partnerId?: string): Promise<ApiKey[]> {
    return this.repo.find({
      where: partnerId === undefined ? {} : { partner_id: partnerId },
      order: { created_at: 'ASC', id: 'ASC' },
    });
  }

  /** Sets a key's shown prefix (a no-op write when it already has it). */
  async setPrefix(id: string, prefix: string): Promise<void> {
    await this.repo.update({ id, prefix: Not(prefix) }, { prefix });
  }

  async setExpiry(id: string, at: Date): Promise<void> {
    await this.repo.update({ id }, { expires_at: at });
  }

  /** Writes a batch of last-use times in one transaction; a time never moves backwards. */
  async recordLastUsed(uses: Map<string, Date>): Promise<void> {
    if (uses.size === 0) return;
    const pg = this.ds.options.type === 'postgres';
    await this.ds.transaction(async (m) => {
      for (const [id, at] of uses) {
        const t = pg ? at.toISOString() : sqliteTime(at);
        const p = pg ? 'CAST($1 AS timestamptz)' : '?';
        const idp = pg ? '$2' : '?';
        await m.query(
          `UPDATE api_keys SET last_used_at = ${p} WHERE id = ${idp} AND (last_used_at IS NULL OR last_used_at < ${pg ? 'CAST($1 AS timestamptz)' : '?'})`,
          pg ? [t, id] : [t, id, t],
        );
      }
    });
  }

  async hasActiveAdmin(): Promise<boolean> {
    return (await this.repo.countBy({ role: 'admin', revoked_at: IsNull() })) > 0;
  }
}
