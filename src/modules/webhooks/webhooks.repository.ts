import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, QueryRunner, Repository } from 'typeorm';
import type { Cursor } from '../../common/query';
import { fromDbTime } from '../../database/column-types';
import { Dialect } from '../../database/dialect';
import { TransactionScope } from '../../database/transaction-scope';
import { WebhookEndpoint, WebhookMessage } from './webhook.entities';

/** A claimed message, as the dispatcher sends it. */
export interface ClaimedMessage {
  click_id: string;
  id: string;
  endpoint_id: string;
  partner_id: string;
  conversion_id: string;
  type: string;
  attempts: number;
  created_at: Date;
  cycle_started_at: Date;
  body: string | null;
}

/** A delivery-log row as read back. */
export interface DeliveryRow {
  click_id: string;
  id: string;
  message_id: string;
  endpoint_id: string;
  conversion_id: string;
  type: string;
  attempt: number;
  attempted_at: Date;
  status_code: number | null;
  latency_ms: number;
  error: string | null;
  next_attempt_at: Date | null;
}

/** What one attempt changes, written in one transaction. */
export interface AttemptWrite {
  message: {
    click_id: string;
    id: string;
    status: 'pending' | 'delivered' | 'failed';
    /**
     * The lease the claim set (its next_attempt_at): the message is changed only while it still
     * holds it, so a replay made during the attempt (or a claim by another replica after the lease
     * ran out) is not overwritten; the attempt is logged all the same.
     */
    leased_until: Date;
    next_attempt_at: Date;
    body: string;
    delivered_at: Date | null;
  };
  delivery: DeliveryRow;
  /** The endpoint's failing_since after this attempt (null: it succeeded). */
  endpoint: { id: string; failing_since: Date | null };
}

/** Citus: how many single-shard claims one poll runs at once (see claimDueCitus). */
const CITUS_CLAIMS_AT_ONCE = 4;

/**
 * An attempt's new status, unless the message was held (its endpoint disabled) or cancelled (its
 * endpoint deleted) while the attempt ran: then it stays so, or becomes delivered if it was.
 */
const statusAfterAttempt = (current: string, attempt: string) =>
  `CASE WHEN ${current} = 'pending' OR ${attempt} = 'delivered' THEN ${attempt} ELSE ${current} END`;

const MESSAGE_FIELDS =
  'm.click_id, m.id, m.endpoint_id, m.partner_id, m.conversion_id, m.type, m.attempts, m.created_at, m.cycle_started_at, m.body';

/**
 * Webhook tables. Endpoints through TypeORM (so admin writes share the audit entry's transaction);
 * the outbox and the delivery log through SQL written once for both drivers (`$n` parameters,
 * rewritten to `?` on SQLite), outside the conversion hot path.
 */
@Injectable()
export class WebhooksRepository {
  readonly endpoints: Repository<WebhookEndpoint>;
  private readonly messages: Repository<WebhookMessage>;
  private readonly dialect: Dialect;

  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    tx: TransactionScope,
  ) {
    this.endpoints = tx.repository(WebhookEndpoint);
    this.messages = tx.repository(WebhookMessage);
    this.dialect = new Dialect(ds);
  }

  private get TRUE(): string {
    return this.dialect.isPostgres ? 'true' : '1';
  }

  /**
   * One statement on `runner` (a fresh one when absent): its rows, and the rows it changed. `name`
   * (PostgreSQL, on the pool): a named statement, parsed and planned once per connection (the
   * dispatcher's statements run every round).
   */
  private async run(
    sql: string,
    params: unknown[],
    runner?: QueryRunner,
    name?: string,
  ): Promise<{ rows: Record<string, unknown>[]; affected: number }> {
    let text = sql;
    let values = params;
    if (!this.dialect.isPostgres) {
      const order: number[] = [];
      text = sql.replace(/\$(\d+)(::\w+)?/g, (_, n: string) => (order.push(Number(n) - 1), '?'));
      values = order.map((i) => params[i]);
    }
    if (this.dialect.isPostgres && !runner) {
      // Straight on the pool: no query-runner checkout per statement.
      const r = (await this.dialect.pgPool().query(name ? { name, text, values } : { text, values })) as {
        rows: unknown[];
        rowCount?: number | null;
      };
      return { rows: r.rows as Record<string, unknown>[], affected: r.rowCount ?? r.rows.length };
    }
    const own = !runner;
    const qr = runner ?? this.ds.createQueryRunner();
    try {
      const r = await qr.query(text, values, true);
      const records = Array.isArray(r.records) ? (r.records as Record<string, unknown>[]) : [];
      return { rows: records, affected: r.affected ?? records.length };
    } finally {
      if (own) await qr.release();
    }
  }

  /** A transaction of raw statements (on SQLite, once no other TypeORM transaction holds the one connection). */
  private async transaction<T>(fn: (qr: QueryRunner) => Promise<T>): Promise<T> {
    if (!this.dialect.isPostgres) {
      const db = this.dialect.sqlite();
      while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
    }
    const qr = this.ds.createQueryRunner();
    try {
      await qr.startTransaction();
      try {
        const out = await fn(qr);
        await qr.commitTransaction();
        return out;
      } catch (e) {
        await qr.rollbackTransaction();
        throw e;
      }
    } finally {
      await qr.release();
    }
  }

  private t(d: Date): string {
    return this.dialect.time(d);
  }

  /**
   * Reserves up to `limit` due messages of enabled endpoints until `leaseUntil` and answers them.
   * On PostgreSQL `FOR UPDATE SKIP LOCKED`: replicas claiming at once take disjoint sets, and the
   * lease (next_attempt_at moved forward) keeps the others off them until the attempt is written.
   * A process killed mid-attempt leaves the message to be taken again when the lease ends.
   */
  async claimDue(now: Date, leaseUntil: Date, limit: number): Promise<ClaimedMessage[]> {
    const due = `SELECT m.click_id, m.id FROM webhook_messages m JOIN webhook_endpoints e ON e.id = m.endpoint_id
      WHERE m.status = 'pending' AND m.next_attempt_at <= $1::timestamptz AND e.enabled = ${this.TRUE}
      ORDER BY m.next_attempt_at, m.created_at LIMIT $2::int`;
    if (this.dialect.isPostgres && (await this.dialect.isCitus()))
      return this.claimDueCitus(due, now, leaseUntil, limit);
    const sql = this.dialect.isPostgres
      ? `WITH due AS (${due} FOR UPDATE OF m SKIP LOCKED)
         UPDATE webhook_messages m SET next_attempt_at = $3::timestamptz, attempts = m.attempts + 1
         FROM due WHERE m.click_id = due.click_id AND m.id = due.id RETURNING ${MESSAGE_FIELDS}`
      : `UPDATE webhook_messages AS m SET next_attempt_at = $3, attempts = m.attempts + 1
         WHERE (m.click_id, m.id) IN (${due}) RETURNING ${MESSAGE_FIELDS.replace(/m\./g, '')}`;
    if (this.dialect.isPostgres) return this.claimed(await this.claimPg(sql, now, limit, leaseUntil));
    // SQLite: an UPDATE takes the file's write lock even when it changes nothing; an idle poll only reads.
    const { rows: any } = await this.run(
      `SELECT 1 AS due FROM webhook_messages WHERE status = 'pending' AND next_attempt_at <= $1 LIMIT 1`,
      [this.t(now)],
    );
    if (any.length === 0) return [];
    const { rows } = await this.run(sql, [this.t(now), limit, this.t(leaseUntil)]);
    return this.claimed(rows);
  }

  /**
   * PostgreSQL: the claim, planned with sorts and bitmap scans off, so it always reads the pending
   * index off its front (the claim's order) and stops after `limit` rows. Left to the statistics,
   * the planner takes the backlog for the few rows it held when the table was last analyzed (in
   * steady state almost nothing is pending) and reads and sorts every due message instead: measured
   * 28-44 ms per claim with a 30,000-message backlog, against 0.3 ms so, which made the catch-up after
   * a burst (or after an endpoint's outage) crawl at ~170 messages/s. The settings are `SET LOCAL`
   * in the statement's own implicit transaction: one simple-protocol query of three statements, one
   * round trip, and nothing else on the connection sees them. Simple protocol takes no parameters,
   * so the values are written in; each is the service's own (two ISO times and an integer), checked.
   */
  private async claimPg(sql: string, now: Date, limit: number, leaseUntil: Date): Promise<Record<string, unknown>[]> {
    const time = (d: Date) => {
      const iso = this.t(d);
      if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(iso)) throw new Error(`unexpected time ${iso}`);
      return `'${iso}'`;
    };
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`unexpected claim limit ${limit}`);
    const values = [time(now), String(limit), time(leaseUntil)];
    const text = sql.replace(/\$(\d)/g, (_, n: string) => values[Number(n) - 1]);
    const results = (await this.dialect.pgPool().query({
      text: `SET LOCAL enable_sort = off; SET LOCAL enable_bitmapscan = off; ${text}`,
      values: [],
    })) as unknown as {
      rows: Record<string, unknown>[];
    }[];
    return results[results.length - 1].rows;
  }

  /**
   * Citus: webhook_messages is distributed by click_id and Citus refuses FOR UPDATE over many shards.
   * The due (click_id, id) pairs are read without a lock (one multi-shard read), then each is claimed
   * by a compare-and-set on its click's shard (a router UPDATE): a row still pending and due gets the
   * lease, so of replicas claiming the same message at once exactly one gets it back (the others'
   * UPDATE, run after the winner's commits, no longer sees it due). A few claims at once, so a poll
   * never holds more than that many pooled connections.
   */
  private async claimDueCitus(due: string, now: Date, leaseUntil: Date, limit: number): Promise<ClaimedMessage[]> {
    const { rows: candidates } = await this.run(due, [this.t(now), limit]);
    const claim = `UPDATE webhook_messages m SET next_attempt_at = $3::timestamptz, attempts = m.attempts + 1
      WHERE m.click_id = $1 AND m.id = $2 AND m.status = 'pending' AND m.next_attempt_at <= $4::timestamptz
      RETURNING ${MESSAGE_FIELDS}`;
    const won: Record<string, unknown>[] = [];
    for (let i = 0; i < candidates.length; i += CITUS_CLAIMS_AT_ONCE) {
      const results = await Promise.all(
        candidates
          .slice(i, i + CITUS_CLAIMS_AT_ONCE)
          .map((c) => this.run(claim, [c.click_id, c.id, this.t(leaseUntil), this.t(now)])),
      );
      for (const r of results) won.push(...r.rows);
    }
    return this.claimed(won);
  }

  private claimed(rows: Record<string, unknown>[]): ClaimedMessage[] {
    return rows
      .map((r) => ({
        click_id: r.click_id as string,
        id: r.id as string,
        endpoint_id: r.endpoint_id as string,
        partner_id: r.partner_id as string,
        conversion_id: r.conversion_id as string,
        type: r.type as string,
        attempts: Number(r.attempts),
        created_at: fromDbTime(r.created_at)!,
        cycle_started_at: fromDbTime(r.cycle_started_at)!,
        body: (r.body as string | null) ?? null,
      }))
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime());
  }

  async findEndpointsByIds(ids: string[]): Promise<WebhookEndpoint[]> {
    if (ids.length === 0) return [];
    return this.endpoints.createQueryBuilder('e').where('e.id IN (:...ids)', { ids }).getMany();
  }

  /**
   * The writes of several attempts (each message, its delivery-log row, and each endpoint's
   * failing_since as its last attempt of the group left it), atomically. PostgreSQL: one statement
   * over arrays (named: planned once per connection). Citus: the messages and the log are
   * distributed by click, so each attempt is its own single-shard statement (a few at once).
   * SQLite: one transaction.
   */
  async recordAttempts(ws: readonly AttemptWrite[]): Promise<void> {
    if (ws.length === 0) return;
    // The endpoint's run of failures as the group's last attempt of it left it.
    const endpoints = new Map<string, Date | null>();
    for (const w of ws) endpoints.set(w.endpoint.id, w.endpoint.failing_since);
    if (this.dialect.isPostgres && !(await this.dialect.isCitus())) {
      const col = <T>(f: (w: AttemptWrite) => T) => ws.map(f);
      const t = (d: Date | null) => (d ? this.t(d) : null);
      await this.run(
        `WITH w AS (
          SELECT * FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::timestamptz[], $5::text[], $6::timestamptz[],
            $7::varchar[], $8::varchar[], $9::varchar[], $10::int[], $11::timestamptz[], $12::int[], $13::int[], $14::varchar[],
            $15::timestamptz[], $16::varchar[], $19::timestamptz[])
            AS w(click_id, id, status, next_attempt_at, body, delivered_at, delivery_id, endpoint_id, conversion_id, attempt,
              attempted_at, status_code, latency_ms, error, d_next_attempt_at, type, leased_until)
        ), m AS (
          UPDATE webhook_messages m SET status = ${statusAfterAttempt('m.status', 'w.status')}, next_attempt_at = w.next_attempt_at, body = w.body,
            delivered_at = w.delivered_at
          FROM w WHERE m.click_id = w.click_id AND m.id = w.id AND m.next_attempt_at = w.leased_until RETURNING 1
        ), d AS (
          INSERT INTO webhook_deliveries (click_id, id, message_id, endpoint_id, conversion_id, type, attempt, attempted_at,
            status_code, latency_ms, error, next_attempt_at)
          SELECT w.click_id, w.delivery_id, w.id, w.endpoint_id, w.conversion_id, w.type, w.attempt, w.attempted_at,
            w.status_code, w.latency_ms, w.error, w.d_next_attempt_at
          FROM w RETURNING 1
        ), e AS (
          UPDATE webhook_endpoints e SET failing_since = x.failing_since
          FROM unnest($17::varchar[], $18::timestamptz[]) AS x(id, failing_since)
          WHERE e.id = x.id AND ((x.failing_since IS NULL AND e.failing_since IS NOT NULL)
            OR (x.failing_since IS NOT NULL AND e.failing_since IS NULL))
          RETURNING 1
        ) SELECT 1`,
        [
          col((w) => w.message.click_id),
          col((w) => w.message.id),
          col((w) => w.message.status),
          col((w) => this.t(w.message.next_attempt_at)),
          col((w) => w.message.body),
          col((w) => t(w.message.delivered_at)),
          col((w) => w.delivery.id),
          col((w) => w.delivery.endpoint_id),
          col((w) => w.delivery.conversion_id),
          col((w) => w.delivery.attempt),
          col((w) => this.t(w.delivery.attempted_at)),
          col((w) => w.delivery.status_code),
          col((w) => w.delivery.latency_ms),
          col((w) => w.delivery.error),
          col((w) => t(w.delivery.next_attempt_at)),
          col((w) => w.delivery.type),
          [...endpoints.keys()],
          [...endpoints.values()].map(t),
          col((w) => this.t(w.message.leased_until)),
        ],
        undefined,
        'webhooks_record_attempts',
      );
      return;
    }
    if (this.dialect.isPostgres) {
      for (let i = 0; i < ws.length; i += CITUS_CLAIMS_AT_ONCE)
        await Promise.all(ws.slice(i, i + CITUS_CLAIMS_AT_ONCE).map((w) => this.recordAttempt(w)));
      return;
    }
    await this.transaction(async (qr) => {
      for (const w of ws) await this.recordAttempt(w, qr, false);
      for (const [id, failingSince] of endpoints) await this.setFailingSince(id, failingSince, qr);
    });
  }

  /** A success clears the endpoint's run of failures; a failure starts one unless one is running. */
  private async setFailingSince(id: string, failingSince: Date | null, qr: QueryRunner): Promise<void> {
    await this.run(
      `UPDATE webhook_endpoints SET failing_since = $1::timestamptz
       WHERE id = $2 AND (($1::timestamptz IS NULL AND failing_since IS NOT NULL) OR ($1::timestamptz IS NOT NULL AND failing_since IS NULL))`,
      [failingSince ? this.t(failingSince) : null, id],
      qr,
    );
  }

  /**
   * One attempt's writes (message, delivery log, the endpoint's failing_since unless `withEndpoint`
   * is false), in one statement (PostgreSQL) or in `runner`'s transaction (SQLite).
   */
  private async recordAttempt(w: AttemptWrite, runner?: QueryRunner, withEndpoint = true): Promise<void> {
    const m = w.message;
    const d = w.delivery;
    const e = w.endpoint;
    const params = [
      m.status,
      this.t(m.next_attempt_at),
      m.body,
      m.delivered_at ? this.t(m.delivered_at) : null,
      m.click_id,
      m.id,
      d.id,
      d.message_id,
      d.endpoint_id,
      d.conversion_id,
      d.type,
      d.attempt,
      this.t(d.attempted_at),
      d.status_code,
      d.latency_ms,
      d.error,
      d.next_attempt_at ? this.t(d.next_attempt_at) : null,
      e.failing_since ? this.t(e.failing_since) : null,
      e.id,
      this.t(m.leased_until),
    ];
    const message = `UPDATE webhook_messages SET status = ${statusAfterAttempt('status', '$1::varchar')}, next_attempt_at = $2::timestamptz, body = $3,
        delivered_at = $4::timestamptz WHERE click_id = $5 AND id = $6 AND next_attempt_at = $20::timestamptz`;
    const delivery = `INSERT INTO webhook_deliveries (click_id, id, message_id, endpoint_id, conversion_id, type, attempt,
        attempted_at, status_code, latency_ms, error, next_attempt_at)
      VALUES ($5, $7, $8, $9, $10, $11, $12::int, $13::timestamptz, $14::int, $15::int, $16, $17::timestamptz)`;
    // A success clears the run of failures; a failure starts one unless one is running.
    const endpoint = `UPDATE webhook_endpoints SET failing_since = $18::timestamptz
      WHERE id = $19 AND (($18::timestamptz IS NULL AND failing_since IS NOT NULL) OR ($18::timestamptz IS NOT NULL AND failing_since IS NULL))`;
    if (this.dialect.isPostgres) {
      // One statement, one round trip: atomic without a transaction of its own.
      await this.run(
        `WITH m AS (${message} RETURNING 1), d AS (${delivery} RETURNING 1), e AS (${endpoint} RETURNING 1) SELECT 1`,
        params,
      );
      return;
    }
    const statements = withEndpoint ? [message, delivery, endpoint] : [message, delivery];
    if (runner) {
      for (const sql of statements) await this.run(sql, params, runner);
      return;
    }
    await this.transaction(async (qr) => {
      for (const sql of statements) await this.run(sql, params, qr);
    });
  }

  /**
   * Disables an enabled endpoint and holds its messages (in the caller's TransactionScope, with its
   * audit entry); false when it already was.
   */
  async disableEndpoint(id: string, reason: 'gone' | 'failing', now: Date): Promise<boolean> {
    const r = await this.endpoints.update(
      { id, enabled: true },
      { enabled: false, disabled_reason: reason, updated_at: now },
    );
    if ((r.affected ?? 0) === 0) return false;
    await this.holdPending(id);
    return true;
  }

  /**
   * A disabled endpoint's undelivered messages are `held`: out of the pending index, so the claim
   * never reads past them (a long outage's backlog would otherwise sit at the index's front, read
   * and skipped by every claim, for every partner, until the endpoint is enabled again).
   */
  async holdPending(endpointId: string): Promise<void> {
    await this.setStatus(endpointId, ['pending'], { status: 'held' });
  }

  /** Enabled again: its held messages are due now, each with a fresh retry window. */
  async releaseHeld(endpointId: string, now: Date): Promise<void> {
    await this.setStatus(endpointId, ['held'], { status: 'pending', next_attempt_at: now, cycle_started_at: now });
  }

  /** `set` on an endpoint's messages in one of the `from` states (in the caller's TransactionScope). */
  private async setStatus(endpointId: string, from: string[], set: Partial<WebhookMessage>): Promise<void> {
    await this.messages
      .createQueryBuilder()
      .update()
      .set(set)
      .where('endpoint_id = :endpointId AND status IN (:...from)', { endpointId, from })
      .execute();
  }

  /** Newest first, keyset-paginated on (attempted_at, id). */
  async deliveries(endpointId: string, after: Cursor | null, limit: number): Promise<DeliveryRow[]> {
    const params: unknown[] = [endpointId, limit];
    let where = 'endpoint_id = $1';
    if (after) {
      params.push(this.t(after.at), after.id);
      where += ` AND (attempted_at, id) < ($3::timestamptz, $4)`;
    }
    const { rows } = await this.run(
      `SELECT * FROM webhook_deliveries WHERE ${where} ORDER BY attempted_at DESC, id DESC LIMIT $2::int`,
      params,
    );
    return rows.map(toDelivery);
  }

  /** Every attempt for the conversions of one click, oldest first (for /admin/explain). */
  async deliveriesOfClick(clickId: string, limit: number): Promise<DeliveryRow[]> {
    const { rows } = await this.run(
      `SELECT * FROM webhook_deliveries WHERE click_id = $1 ORDER BY attempted_at, id LIMIT $2::int`,
      [clickId, limit],
    );
    return rows.map(toDelivery);
  }

  /**
   * Makes messages of an endpoint due now, with a fresh retry window (or, `held`: of a disabled
   * endpoint, held until it is enabled again); answers how many.
   */
  async replay(
    endpointId: string,
    sel: { messageId?: string; since?: Date },
    now: Date,
    held = false,
  ): Promise<number> {
    const params: unknown[] = [this.t(now), endpointId];
    let where = 'endpoint_id = $2';
    if (sel.messageId !== undefined) {
      params.push(sel.messageId);
      where += ' AND id = $3';
    }
    if (sel.since !== undefined) {
      params.push(this.t(sel.since));
      where += ` AND created_at >= $${params.length}::timestamptz`;
    }
    const { affected } = await this.run(
      `UPDATE webhook_messages SET status = '${held ? 'held' : 'pending'}', next_attempt_at = $1::timestamptz,
         cycle_started_at = $1::timestamptz WHERE ${where}`,
      params,
    );
    return affected;
  }

  /** A deleted endpoint's undelivered (pending or held) messages are cancelled, so the claim never scans them again. */
  async cancelPending(endpointId: string): Promise<void> {
    await this.setStatus(endpointId, ['pending', 'held'], { status: 'cancelled' });
  }

  /** How many messages of an endpoint are not yet delivered nor given up (for tests and metrics). */
  async pendingCount(): Promise<number> {
    const { rows } = await this.run(`SELECT COUNT(*) AS n FROM webhook_messages WHERE status = 'pending'`, []);
    return Number(rows[0]?.n ?? 0);
  }
}

function toDelivery(r: Record<string, unknown>): DeliveryRow {
  return {
    click_id: r.click_id as string,
    id: r.id as string,
    message_id: r.message_id as string,
    endpoint_id: r.endpoint_id as string,
    conversion_id: r.conversion_id as string,
    type: r.type as string,
    attempt: Number(r.attempt),
    attempted_at: fromDbTime(r.attempted_at)!,
    status_code: r.status_code == null ? null : Number(r.status_code),
    latency_ms: Number(r.latency_ms),
    error: (r.error as string | null) ?? null,
    next_attempt_at: fromDbTime(r.next_attempt_at),
  };
}
