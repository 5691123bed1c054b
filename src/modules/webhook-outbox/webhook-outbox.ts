import { Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { sqliteTime } from '../../database/column-types';
import type { WebhookEvent } from './webhook-events';

/** How often each process re-reads which partners have an enabled endpoint (ms). */
export const ENDPOINT_CACHE_MS = 1000;

/** The columns of an outbox row, as the outbox statements write them. */
const MESSAGE_COLUMNS =
  'click_id, id, endpoint_id, partner_id, conversion_id, type, status, attempts, created_at, next_attempt_at, cycle_started_at';

const PG_MESSAGE_ID = `'msg_' || replace(gen_random_uuid()::text, '-', '')`;
const SQLITE_MESSAGE_ID = `'msg_' || lower(hex(randomblob(16)))`;

/** The subscription test: `events` is stored as `,a,b,`. */
const subscribed = (type: WebhookEvent) => `e.events LIKE '%,${type},%'`;

/**
 * The message type of a row whose data mode is `mode` (an SQL expression): a sandbox (test key)
 * conversion's events are `test` messages, sent only to endpoints subscribed to `test`, never as
 * the live event (issue 12's isolation, issue 13's `test` event).
 */
function typeSql(type: WebhookEvent, mode?: string): string {
  return mode ? `(CASE WHEN ${mode} = 'test' THEN 'test' ELSE '${type}' END)` : `'${type}'`;
}

/** The subscription test: `events` is stored as `,a,b,`. */
function subscribedSql(type: WebhookEvent, mode?: string): string {
  return mode ? `e.events LIKE '%,' || ${typeSql(type, mode)} || ',%'` : subscribed(type);
}

/**
 * PostgreSQL: an outbox INSERT (for a CTE of the conversion's own statement) of one `type` message
 * per enabled, subscribed endpoint of each row of `from`, whose columns are named by `col` (`mode`:
 * the row's data mode, when it can be a sandbox row: see typeSql).
 */
export function pgOutboxInsert(
  type: WebhookEvent,
  from: string,
  col: { click: string; conversion: string; partner: string; at: string; mode?: string },
): string {
  return `INSERT INTO webhook_messages (${MESSAGE_COLUMNS})
  SELECT ${col.click}, ${PG_MESSAGE_ID}, e.id, e.partner_id, ${col.conversion}, ${typeSql(type, col.mode)}, 'pending', 0, ${col.at}, ${col.at}, ${col.at}
  FROM ${from} JOIN webhook_endpoints e ON e.partner_id = ${col.partner} AND e.enabled AND ${subscribedSql(type, col.mode)}`;
}

/**
 * SQLite: the same for one conversion (`@click_id`, `@conversion_id`, `@partner_id`, `@at`, and
 * `@mode` when `withMode`), in its transaction.
 */
export function sqliteOutboxInsert(type: WebhookEvent, withMode = false): string {
  const mode = withMode ? '@mode' : undefined;
  return `INSERT INTO webhook_messages (${MESSAGE_COLUMNS})
  SELECT @click_id, ${SQLITE_MESSAGE_ID}, e.id, e.partner_id, @conversion_id, ${typeSql(type, mode)}, 'pending', 0, @at, @at, @at
  FROM webhook_endpoints e WHERE e.partner_id = @partner_id AND e.enabled = 1 AND ${subscribedSql(type, mode)}`;
}

/** An event to put in the outbox (a conversion it describes). */
export interface OutboxEvent {
  type: WebhookEvent;
  conversion_id: string;
  click_id: string;
  partner_id: string;
  /**
   * The described conversion's data mode: a sandbox (`test`) conversion's event is written as a
   * `test` message, only to endpoints subscribed to `test` (the conversion write's rule, typeSql).
   */
  mode: 'live' | 'test';
  /** The event's time; default now. */
  at?: Date;
}

/**
 * The outbox's write side. The conversion write path asks `hasEndpoints` (an in-process set,
 * refreshed every ENDPOINT_CACHE_MS and at once on this process's own endpoint writes) so the
 * conversions of partners without endpoints run exactly the statement they ran before webhooks.
 * Other code (adjustments) calls `enqueue` inside its own transaction.
 */
@Injectable()
export class WebhookOutbox implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('WebhookOutbox');
  private partners = new Set<string>();
  private readonly recentlyMarked = new Set<string>();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;

  constructor(@Optional() @InjectDataSource() private readonly ds?: DataSource) {}

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), ENDPOINT_CACHE_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** Whether `partnerId` has (or had, within ENDPOINT_CACHE_MS) an enabled endpoint. */
  hasEndpoints(partnerId: string): boolean {
    return this.partners.has(partnerId);
  }

  /** This process just enabled an endpoint of `partnerId`: its next conversions write messages. */
  markPartner(partnerId: string): void {
    this.partners.add(partnerId);
    this.recentlyMarked.add(partnerId);
  }

  /** Re-reads the set (a failure keeps the old one: a database outage fails the writes anyway). */
  refresh(): Promise<void> {
    if (!this.ds?.isInitialized) return Promise.resolve();
    this.refreshing ??= (async () => {
      try {
        const rows = (await this.ds!.query(
          `SELECT DISTINCT partner_id FROM webhook_endpoints WHERE enabled = ${this.ds!.options.type === 'postgres' ? 'true' : '1'}`,
        )) as { partner_id: string }[];
        const next = new Set(rows.map((r) => r.partner_id));
        // Partners this process marked since the read began stay in.
        for (const p of this.partners) if (!next.has(p) && this.recentlyMarked.has(p)) next.add(p);
        this.partners = next;
        this.recentlyMarked.clear();
      } catch (e) {
        this.logger.warn(`could not refresh the webhook endpoint cache: ${(e as Error).message}`);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * Writes one message per enabled, subscribed endpoint for each event, on `runner` (the caller's
   * transaction: the events commit or roll back with it). Answers how many messages were written.
   */
  async enqueue(runner: EntityManager | QueryRunner, events: readonly OutboxEvent[]): Promise<number> {
    const pg = (runner.connection.options.type as string) === 'postgres';
    let n = 0;
    for (const ev of events) {
      const at = ev.at ?? new Date();
      const sql = pg
        ? pgOutboxInsert(
            ev.type,
            '(SELECT $1::varchar AS click_id, $2::varchar AS conversion_id, $3::varchar AS partner_id, $4::timestamptz AS at, $5::varchar AS mode) x',
            {
              click: 'x.click_id',
              conversion: 'x.conversion_id',
              partner: 'x.partner_id',
              at: 'x.at',
              mode: 'x.mode',
            },
          ) + ' RETURNING id'
        : sqliteOutboxInsert(ev.type, true);
      if (pg) {
        const rows = (await runner.query(sql, [
          ev.click_id,
          ev.conversion_id,
          ev.partner_id,
          at.toISOString(),
          ev.mode,
        ])) as unknown[];
        n += rows.length;
      } else {
        const order: string[] = [];
        const text = sql.replace(
          /@(click_id|conversion_id|partner_id|at|mode)\b/g,
          (_, k: string) => (order.push(k), '?'),
        );
        const values: Record<string, unknown> = {
          click_id: ev.click_id,
          conversion_id: ev.conversion_id,
          partner_id: ev.partner_id,
          at: sqliteTime(at),
          mode: ev.mode,
        };
        await runner.query(
          text,
          order.map((k) => values[k]),
        );
        // The one SQLite connection: changes() is this INSERT's row count.
        const [c] = (await runner.query('SELECT changes() AS n')) as { n: number }[];
        n += Number(c?.n ?? 0);
      }
    }
    return n;
  }
}
