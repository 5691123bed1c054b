import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { DataMode } from '../../common/data-mode';
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
  'mode',
  'matched_on',
  'matched_conversion_id',
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
        const v = r[c] ?? null;
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

  /** The partner and mode of each of these clicks (the Tag's attempts carry a click, not a key). */
  async partnersOfClicks(clickIds: string[]): Promise<Map<string, { partner_id: string; mode: DataMode }>> {
    const out = new Map<string, { partner_id: string; mode: DataMode }>();
    if (clickIds.length === 0) return out;
    const rows: { click_id: string; partner_id: string; mode: DataMode }[] = await this.ds
      .createQueryBuilder()
      .select(['c.click_id AS click_id', 'c.partner_id AS partner_id', 'c.mode AS mode'])
      .from('clicks', 'c')
      .where('c.click_id IN (:...ids)', { ids: clickIds })
      .getRawMany();
    for (const r of rows) out.set(r.click_id, { partner_id: r.partner_id, mode: r.mode === 'test' ? 'test' : 'live' });
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

  /*
   * The sandbox's purge (TEST_DATA_TTL): test rows older than `before`, up to PURGE_BATCH per
   * statement, through the partial indexes on mode = 'test' (live rows are never read). A test
   * click goes once nothing of it is left (its conversions and claims may be younger than it).
   */

  purgeTestConversions(before: Date): Promise<number> {
    return this.purgeTest('conversions', 'id', 'created_at', before);
  }

  purgeTestAttempts(before: Date): Promise<number> {
    return this.purgeTest('conversion_attempts', 'id', 'at', before);
  }

  /** The dedup claims on test clicks made before `before` (a claim is test data when its click is). */
  async purgeTestDedupClaims(before: Date): Promise<number> {
    const ms = before.getTime();
    // Citus: as purgeAttempts; the join is on the distribution column (co-located shards).
    if (await this.dialect.isCitus())
      return this.affected(
        `DELETE FROM dedup_claims d USING clicks c WHERE c.click_id = d.click_id AND c.mode = 'test' AND d.claimed_at < $1`,
        [ms],
      );
    return this.isPostgres
      ? this.affected(
          `DELETE FROM dedup_claims WHERE ctid IN (SELECT d.ctid FROM dedup_claims d JOIN clicks c ON c.click_id = d.click_id
             WHERE c.mode = 'test' AND d.claimed_at < $1 LIMIT ${PURGE_BATCH} FOR UPDATE OF d SKIP LOCKED)`,
          [ms],
        )
      : this.affected(
          `DELETE FROM dedup_claims WHERE rowid IN (SELECT d.rowid FROM dedup_claims d JOIN clicks c ON c.click_id = d.click_id
             WHERE c.mode = 'test' AND d.claimed_at < ? LIMIT ${PURGE_BATCH})`,
          [ms],
        );
  }

  async purgeTestClicks(before: Date): Promise<number> {
    const rest = `NOT EXISTS (SELECT 1 FROM conversions v WHERE v.click_id = k.click_id)
      AND NOT EXISTS (SELECT 1 FROM dedup_claims d WHERE d.click_id = k.click_id)`;
    if (await this.dialect.isCitus())
      return this.affected(`DELETE FROM clicks k WHERE k.mode = 'test' AND k.created_at < $1 AND ${rest}`, [
        before.toISOString(),
      ]);
    return this.isPostgres
      ? this.affected(
          `DELETE FROM clicks WHERE click_id IN (SELECT k.click_id FROM clicks k WHERE k.mode = 'test' AND k.created_at < $1
             AND ${rest} LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED) AND mode = 'test'`,
          [before.toISOString()],
        )
      : this.affected(
          `DELETE FROM clicks WHERE click_id IN (SELECT k.click_id FROM clicks k WHERE k.mode = 'test' AND k.created_at < ?
             AND ${rest} LIMIT ${PURGE_BATCH}) AND mode = 'test'`,
          [sqliteTime(before)],
        );
  }

  private async purgeTest(table: string, id: string, at: string, before: Date): Promise<number> {
    // Citus: as purgeAttempts (no LIMIT … FOR UPDATE over many shards).
    if (await this.dialect.isCitus())
      return this.affected(`DELETE FROM ${table} WHERE mode = 'test' AND ${at} < $1`, [before.toISOString()]);
    return this.isPostgres
      ? this.affected(
          `DELETE FROM ${table} WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE mode = 'test' AND ${at} < $1
             LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED) AND mode = 'test'`,
          [before.toISOString()],
        )
      : this.affected(
          `DELETE FROM ${table} WHERE ${id} IN (SELECT ${id} FROM ${table} WHERE mode = 'test' AND ${at} < ?
             LIMIT ${PURGE_BATCH}) AND mode = 'test'`,
          [sqliteTime(before)],
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
