import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import type { Cursor } from '../../common/query';
import { sqliteTime } from '../../database/column-types';
import { TransactionScope } from '../../database/transaction-scope';
import { AuditEntry } from './audit-entry.entity';

export interface AuditFilter {
  action?: string;
  target_type?: string;
  target_id?: string;
  actor_key_id?: string;
}

@Injectable()
export class AuditRepository {
  private readonly repo: Repository<AuditEntry>;
  private readonly isPostgres: boolean;

  constructor(@InjectDataSource() ds: DataSource, tx: TransactionScope) {
    this.repo = tx.repository(AuditEntry);
    this.isPostgres = ds.options.type === 'postgres';
  }

  insert(e: AuditEntry): Promise<unknown> {
    return this.repo.insert(e);
  }

  /** Newest first, keyset-paginated on (at, id). */
  page(filter: AuditFilter, after: Cursor | null, limit: number): Promise<AuditEntry[]> {
    const qb = this.repo.createQueryBuilder('a').where('1 = 1');
    for (const key of ['action', 'target_type', 'target_id', 'actor_key_id'] as const) {
      if (filter[key] !== undefined) qb.andWhere(`a.${key} = :${key}`, { [key]: filter[key] });
    }
    if (after) {
      const t = this.isPostgres ? 'CAST(:after_t AS timestamptz)' : ':after_t';
      qb.andWhere(`(a.at, a.id) < (${t}, :after_id)`, {
        after_t: this.isPostgres ? after.at.toISOString() : sqliteTime(after.at),
        after_id: after.id,
      });
    }
    return qb.orderBy('a.at', 'DESC').addOrderBy('a.id', 'DESC').limit(limit).getMany();
  }
}
