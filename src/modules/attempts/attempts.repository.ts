import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqliteTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';
import { ConversionAttempt } from './conversion-attempt.entity';

/** The columns of conversion_attempts, in the order the INSERT lists them (the one list of them). */
export const ATTEMPT_COLUMNS = [
  'id',
  'at',
  'partner_id',
  'key_id',
  'source',
  'click_id',
  'order_id',
  'event_id',
  'event_type',
  'status',
  'reason',
  'error_loc',
  'error_type',
  'request_id',
] as const satisfies readonly (keyof ConversionAttempt)[];

/** Rows deleted per statement by the retention job, so no delete holds locks for long. */
export const PURGE_BATCH = 5000;

@Injectable()
export class AttemptsRepository {
  private readonly isPostgres: boolean;
  private readonly dialect: Dialect;

  constructor(@InjectDataSource() private readonly ds: DataSource) {
    this.isPostgres = ds.options.type === 'postgres';
    this.dialect = new Dialect(ds);
  }

  /**
   * One multi-row INSERT, its SQL generated from ATTEMPT_COLUMNS (TypeORM's insert builder cost
   * ~100-150 µs of CPU per row here; this costs a few).
   */
  async insertMany(rows: ConversionAttempt[]): Promise<void> {
    if (rows.length === 0) return;
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (const r of rows) {
      const marks: string[] = [];
      for (const c of ATTEMPT_COLUMNS) {
        const v = r[c];
        params.push(v instanceof Date ? (this.isPostgres ? v.toISOString() : sqliteTime(v)) : v);
        marks.push(this.isPostgres ? `$${params.length}` : '?');
      }
      tuples.push(`(${marks.join(', ')})`);
    }
    await this.ds.query(
      `INSERT INTO conversion_attempts (${ATTEMPT_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`,
      params,
    );
  }

  /** The partner of each of these clicks (the Tag's attempts carry a click, not a key). */
  async partnersOfClicks(clickIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (clickIds.length === 0) return out;
    const rows: { click_id: string; partner_id: string }[] = await this.ds
      .createQueryBuilder()
      .select(['c.click_id AS click_id', 'c.partner_id AS partner_id'])
      .from('clicks', 'c')
      .where('c.click_id IN (:...ids)', { ids: clickIds })
      .getRawMany();
    for (const r of rows) out.set(r.click_id, r.partner_id);
    return out;
  }

  /** Deletes up to PURGE_BATCH attempts older than `before`; returns how many. Replicas skip each other's rows. */
  async purgeAttempts(before: Date): Promise<number> {
    // Citus refuses a LIMIT … FOR UPDATE subquery over many shards: each shard deletes its own
    // expired rows, in parallel, in one statement (no batch bound; replicas wait on each other's locks).
    if (await this.dialect.isCitus())
      return this.affected(`DELETE FROM conversion_attempts WHERE at < $1`, [before.toISOString()]);
    return this.isPostgres
      ? this.affected(
          `DELETE FROM conversion_attempts WHERE id IN (SELECT id FROM conversion_attempts WHERE at < $1 LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED)`,
          [before.toISOString()],
        )
      : this.affected(
          `DELETE FROM conversion_attempts WHERE id IN (SELECT id FROM conversion_attempts WHERE at < ? LIMIT ${PURGE_BATCH})`,
          [sqliteTime(before)],
        );
  }

  /**
   * Deletes up to PURGE_BATCH dedup claims made at or before `windowStart` (epoch ms): they no
   * longer match anything (the claiming statement takes such a claim over), so removing one
   * changes no answer. The outer condition is repeated so a claim taken over meanwhile is kept.
   */
  async purgeDedupClaims(windowStart: number): Promise<number> {
    // Citus: as purgeAttempts (and a ctid names a row of one shard only).
    if (await this.dialect.isCitus())
      return this.affected(`DELETE FROM dedup_claims WHERE claimed_at <= $1`, [windowStart]);
    return this.isPostgres
      ? this.affected(
          `DELETE FROM dedup_claims WHERE ctid IN (SELECT ctid FROM dedup_claims WHERE claimed_at <= $1 LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED) AND claimed_at <= $1`,
          [windowStart],
        )
      : this.affected(
          `DELETE FROM dedup_claims WHERE rowid IN (SELECT rowid FROM dedup_claims WHERE claimed_at <= ? LIMIT ${PURGE_BATCH}) AND claimed_at <= ?`,
          [windowStart, windowStart],
        );
  }

  private async affected(sql: string, params: unknown[]): Promise<number> {
    const runner = this.ds.createQueryRunner();
    try {
      const r = await runner.query(sql, params, true);
      return Number((r as { affected?: number }).affected ?? 0);
    } finally {
      await runner.release();
    }
  }
}
