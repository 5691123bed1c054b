import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppError } from '../../common/errors';
import { fromDbTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';
import { AdjustmentEvents } from './adjustment-events';
import { fold, FoldEntry, fromMicros, isSuperseded, toMicros } from './adjustment-fold';
import type { AdjustmentCommand } from './adjustment-item.validation';
import type { AdjustmentOutcome, AdjustmentType, ConversionStatus } from './conversion-adjustment.entity';

/** A conversion's net state after its adjustments. */
export interface NetState {
  conversion_value: string;
  current_value: string;
  status: ConversionStatus;
  adjusted_at: Date | null;
}

/** One row of conversion_adjustments, read or just written (money as canonical decimals). */
export interface AdjustmentRecord {
  id: string;
  conversion_id: string;
  type: AdjustmentType;
  value: string | null;
  adjusted_at: Date;
  adjustment_id: string | null;
  dedup_key: string;
  outcome: AdjustmentOutcome;
  value_before: string;
  value_after: string;
  status_after: ConversionStatus;
  created_at: Date;
}

/** A conversion's id and click: every statement on the row names both (one shard once distributed by click_id). */
export interface ConversionRef {
  id: string;
  click_id: string;
}

export interface ApplyOutcome {
  status: 'ok' | 'duplicate';
  matched_on?: 'adjustment_id' | 'content';
  conversion_id: string;
  adjustment: AdjustmentRecord;
  state: NetState;
}

const ADJUSTMENT_COLUMNS = [
  'click_id',
  'id',
  'conversion_id',
  'partner_id',
  'type',
  'adjustment_id',
  'dedup_key',
  'value',
  'adjusted_at',
  'outcome',
  'value_before',
  'value_after',
  'status_after',
  'created_at',
] as const;

/** What an adjustment is deduplicated on: the advertiser's id, else its content. */
export function dedupKeyOf(cmd: AdjustmentCommand): { key: string; on: 'adjustment_id' | 'content' } {
  if (cmd.adjustment_id !== null) return { key: `id:${cmd.adjustment_id}`, on: 'adjustment_id' };
  return { key: `auto:${cmd.type}|${cmd.adjusted_at.toISOString()}|${cmd.value ?? ''}`, on: 'content' };
}

const money = (v: unknown): string => fromMicros(toMicros(String(v)));
const moneyOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : money(v));

function recordOf(r: Record<string, unknown>): AdjustmentRecord {
  return {
    id: r.id as string,
    conversion_id: r.conversion_id as string,
    type: r.type as AdjustmentType,
    value: moneyOrNull(r.value),
    adjusted_at: fromDbTime(r.adjusted_at)!,
    adjustment_id: (r.adjustment_id as string | null) ?? null,
    dedup_key: r.dedup_key as string,
    outcome: r.outcome as AdjustmentOutcome,
    value_before: money(r.value_before),
    value_after: money(r.value_after),
    status_after: r.status_after as ConversionStatus,
    created_at: fromDbTime(r.created_at)!,
  };
}

const entryOf = (a: Pick<AdjustmentRecord, 'type' | 'value' | 'adjusted_at'>, seq: number): FoldEntry => ({
  type: a.type,
  value: a.value === null ? null : toMicros(a.value),
  adjustedAtMs: a.adjusted_at.getTime(),
  seq,
});

/** The net state of a conversion row (current_value null: never adjusted). */
export function netStateOf(r: Record<string, unknown>): NetState {
  return {
    conversion_value: money(r.conversion_value),
    current_value: money(r.current_value ?? r.conversion_value),
    status: ((r.status as ConversionStatus | null) ?? 'active') as ConversionStatus,
    adjusted_at: fromDbTime(r.adjusted_at),
  };
}

/**
 * Adjustments' data access. `apply` is the whole decision for one adjustment inside a
 * transaction: it locks the conversion row, reads its history, decides, writes the adjustment row
 * and the conversion's net state, and calls AdjustmentEvents, all in the caller's transaction.
 */
@Injectable()
export class AdjustmentsRepository {
  private readonly dialect: Dialect;
  /** SQLite: this process's adjustment transactions, one after the other (one connection, one writer). */
  private sqliteQueue: Promise<unknown> = Promise.resolve();

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly events: AdjustmentEvents,
  ) {
    this.dialect = new Dialect(ds);
  }

  private p(n: number): string {
    return this.dialect.param(n);
  }

  private ps(count: number, from = 1): string {
    return Array.from({ length: count }, (_, i) => this.p(from + i)).join(', ');
  }

  /**
   * The conversion an adjustment names, among the caller's own: by id, or by order_id and
   * event_type. Another partner's conversion is not found, exactly like a missing one.
   */
  async resolveConversion(partnerId: string, cmd: AdjustmentCommand): Promise<ConversionRef> {
    if (cmd.conversion_id !== null) {
      const rows: ConversionRef[] = await this.ds.query(
        `SELECT id, click_id FROM conversions WHERE id = ${this.p(1)} AND partner_id = ${this.p(2)}`,
        [cmd.conversion_id, partnerId],
      );
      if (rows.length === 0) throw new AppError('conversion_not_found');
      return rows[0];
    }
    const rows: ConversionRef[] = await this.ds.query(
      `SELECT id, click_id FROM conversions WHERE order_id = ${this.p(1)} AND partner_id = ${this.p(2)} AND event_type = ${this.p(3)} LIMIT 2`,
      [cmd.order!.order_id, partnerId, cmd.order!.event_type],
    );
    if (rows.length === 0) throw new AppError('conversion_not_found');
    if (rows.length > 1) throw new AppError('order_id_ambiguous');
    return rows[0];
  }

  /** Runs `fn` in a transaction: PostgreSQL's own connection; SQLite's one connection, one at a time. */
  async transaction<T>(fn: (m: EntityManager) => Promise<T>): Promise<T> {
    if (this.dialect.isPostgres) return this.ds.transaction(fn);
    const run = this.sqliteQueue.then(async () => {
      // Not inside a transaction someone else opened on the shared connection (an admin write).
      const db = this.dialect.sqlite();
      while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
      return this.ds.transaction(fn);
    });
    this.sqliteQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * The apply step, in the caller's transaction `m`: lock the conversion (PostgreSQL: SELECT … FOR
   * UPDATE; SQLite: a write first, so the transaction holds the database's write lock before it
   * reads), then dedup, the refusals, the fold, the row, the state and the event. Throws the
   * refusal's AppError (the caller rolls back; nothing was written).
   */
  async apply(
    m: EntityManager,
    partnerId: string,
    ref: ConversionRef,
    cmd: AdjustmentCommand,
    now: Date,
  ): Promise<ApplyOutcome> {
    const p = (n: number) => this.p(n);
    const conversionId = ref.id;
    if (!this.dialect.isPostgres) {
      await m.query(`UPDATE conversions SET status = status WHERE click_id = ${p(1)} AND id = ${p(2)}`, [
        ref.click_id,
        conversionId,
      ]);
    }
    const citus = await this.dialect.isCitus();
    // The advertiser's id is unique per partner: the same id on another of its conversions is this one's retry.
    const byAdjustmentId = async (): Promise<Record<string, unknown> | undefined> =>
      cmd.adjustment_id === null
        ? undefined
        : (
            (await m.query(
              `SELECT ${ADJUSTMENT_COLUMNS.join(', ')} FROM conversion_adjustments
               WHERE partner_id = ${p(1)} AND adjustment_id = ${p(2)} LIMIT 1`,
              [partnerId, cmd.adjustment_id],
            )) as Record<string, unknown>[]
          )[0];
    // Citus: that lookup reads every shard (tens to hundreds of ms); it runs before the row lock, so
    // concurrent adjustments of one conversion hold the lock only for single-shard statements. A
    // retry of this very conversion is still found under the lock (its history). Its fan-out uses one
    // connection per worker: many of these transactions run at once, and by default each would open
    // several new worker connections.
    if (citus) await m.query(`SET LOCAL citus.max_adaptive_executor_pool_size = 1`);
    const early = citus ? await byAdjustmentId() : undefined;
    const [conv] = (await m.query(
      `SELECT id, partner_id, click_id, mode, conversion_time, conversion_value, current_value, status, adjusted_at
       FROM conversions WHERE click_id = ${p(1)} AND id = ${p(2)}${this.dialect.isPostgres ? ' FOR UPDATE' : ''}`,
      [ref.click_id, conversionId],
    )) as Record<string, unknown>[];
    if (!conv || conv.partner_id !== partnerId) throw new AppError('conversion_not_found');
    const clickId = conv.click_id as string;
    const before = netStateOf(conv);
    const history = (
      (await m.query(
        `SELECT ${ADJUSTMENT_COLUMNS.join(', ')} FROM conversion_adjustments
         WHERE click_id = ${p(1)} AND conversion_id = ${p(2)} ORDER BY created_at, id`,
        [clickId, conversionId],
      )) as Record<string, unknown>[]
    ).map(recordOf);

    const dedup = dedupKeyOf(cmd);
    const held = history.find((a) => a.dedup_key === dedup.key);
    if (!held && cmd.adjustment_id !== null) {
      const r = citus ? early : await byAdjustmentId();
      if (r) {
        const other = recordOf(r);
        const [oc] = (await m.query(
          `SELECT conversion_value, current_value, status, adjusted_at FROM conversions WHERE click_id = ${p(1)} AND id = ${p(2)}`,
          [r.click_id, other.conversion_id],
        )) as Record<string, unknown>[];
        return {
          status: 'duplicate',
          matched_on: 'adjustment_id',
          conversion_id: other.conversion_id,
          adjustment: other,
          state: netStateOf(oc),
        };
      }
    }
    if (held)
      return {
        status: 'duplicate',
        matched_on: dedup.on,
        conversion_id: conversionId,
        adjustment: held,
        state: before,
      };

    if (before.status === 'retracted') throw new AppError('already_retracted');
    if (cmd.adjusted_at.getTime() < fromDbTime(conv.conversion_time)!.getTime()) {
      throw new AppError('adjustment_precedes_conversion');
    }
    const recorded = history.map((a, i) => entryOf(a, i));
    const entry = entryOf({ type: cmd.type, value: cmd.value, adjusted_at: cmd.adjusted_at }, recorded.length);
    const original = toMicros(before.conversion_value);
    const after = fold(original, [...recorded, entry]);
    if (after.negative && !fold(original, recorded).negative) throw new AppError('refund_exceeds_value');
    const superseded = isSuperseded(entry, recorded);
    const outcome: AdjustmentOutcome = superseded ? 'more_recent_adjustment' : 'applied';
    const last = history[history.length - 1];
    // Recording order is the tie-break of equal adjusted_at: strictly increasing per conversion.
    const createdAt =
      last && last.created_at.getTime() >= now.getTime() ? new Date(last.created_at.getTime() + 1) : now;
    const adjustedAt =
      superseded || (before.adjusted_at && before.adjusted_at.getTime() > cmd.adjusted_at.getTime())
        ? before.adjusted_at
        : cmd.adjusted_at;
    const state: NetState = {
      conversion_value: before.conversion_value,
      current_value: fromMicros(after.value),
      status: after.status,
      adjusted_at: adjustedAt,
    };
    const record: AdjustmentRecord = {
      id: randomUUID(),
      conversion_id: conversionId,
      type: cmd.type,
      value: cmd.value,
      adjusted_at: cmd.adjusted_at,
      adjustment_id: cmd.adjustment_id,
      dedup_key: dedup.key,
      outcome,
      value_before: before.current_value,
      value_after: state.current_value,
      status_after: state.status,
      created_at: createdAt,
    };
    const row: Record<(typeof ADJUSTMENT_COLUMNS)[number], unknown> = {
      ...record,
      click_id: clickId,
      partner_id: partnerId,
      adjusted_at: this.dialect.encode('timestamptz', record.adjusted_at),
      created_at: this.dialect.encode('timestamptz', record.created_at),
    };
    await m.query(
      `INSERT INTO conversion_adjustments (${ADJUSTMENT_COLUMNS.join(', ')}) VALUES (${this.ps(ADJUSTMENT_COLUMNS.length)})`,
      ADJUSTMENT_COLUMNS.map((c) => row[c]),
    );
    if (!superseded) {
      await m.query(
        `UPDATE conversions SET current_value = ${p(1)}, status = ${p(2)}, adjusted_at = ${this.dialect.isPostgres ? `${p(3)}::timestamptz` : p(3)} WHERE click_id = ${p(4)} AND id = ${p(5)}`,
        [
          state.current_value,
          state.status,
          state.adjusted_at && this.dialect.encode('timestamptz', state.adjusted_at),
          clickId,
          conversionId,
        ],
      );
    }
    await this.events.adjusted(m, {
      conversion_id: conversionId,
      partner_id: partnerId,
      click_id: clickId,
      mode: conv.mode === 'test' ? 'test' : 'live',
      adjustment: record,
      state,
    });
    return { status: 'ok', conversion_id: conversionId, adjustment: record, state };
  }

  /** Several conversions' adjustments in one query, each list in the order they were recorded (keyed by conversion id). */
  async historiesOf(keys: readonly { click_id: string; id: string }[]): Promise<Map<string, AdjustmentRecord[]>> {
    const out = new Map<string, AdjustmentRecord[]>();
    if (keys.length === 0) return out;
    const match = keys.map((_, i) => `(click_id = ${this.p(2 * i + 1)} AND conversion_id = ${this.p(2 * i + 2)})`);
    const rows = (await this.ds.query(
      `SELECT ${ADJUSTMENT_COLUMNS.join(', ')} FROM conversion_adjustments WHERE ${match.join(' OR ')} ORDER BY created_at, id`,
      keys.flatMap((k) => [k.click_id, k.id]),
    )) as Record<string, unknown>[];
    for (const r of rows) {
      const rec = recordOf(r);
      out.set(rec.conversion_id, [...(out.get(rec.conversion_id) ?? []), rec]);
    }
    return out;
  }

  /** A conversion's adjustments, in the order they were recorded. */
  async historyOf(clickId: string, conversionId: string): Promise<AdjustmentRecord[]> {
    const rows = (await this.ds.query(
      `SELECT ${ADJUSTMENT_COLUMNS.join(', ')} FROM conversion_adjustments
       WHERE click_id = ${this.p(1)} AND conversion_id = ${this.p(2)} ORDER BY created_at, id`,
      [clickId, conversionId],
    )) as Record<string, unknown>[];
    return rows.map(recordOf);
  }
}
