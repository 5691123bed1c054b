import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock';
import { IngestLoad } from '../../common/ingest-load';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { TransactionScope } from '../../database/transaction-scope';
import { WriteBatcher } from '../../database/write-batcher';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { ConversionReadsService } from '../conversions/conversion-reads.service';
import { closeSenderAgents, SendResult, sendWebhook } from './webhook-sender';
import { signedHeaders } from './webhook-signature';
import { WebhookEndpoint } from './webhook.entities';
import { AttemptWrite, ClaimedMessage, WebhooksRepository } from './webhooks.repository';
import { WebhooksService } from './webhooks.service';

/** The retry delays grow 4-fold from WEBHOOK_RETRY_BASE_MS, up to this. */
export const MAX_RETRY_DELAY_MS = 6 * 3_600_000;
/** A Retry-After is honoured up to this. */
const MAX_RETRY_AFTER_MS = 24 * 3_600_000;

/** The audit log's actor for what the service does by itself (disabling an endpoint). */
const SYSTEM: Principal = { keyId: 'system', role: 'admin', partnerId: null, mode: 'live' };

/** Delay before attempt `attempt + 1`, after `attempt` failed: base·4^(attempt-1), capped, ±25% jitter. */
export function retryDelayMs(attempt: number, baseMs: number, random: () => number = Math.random): number {
  const d = Math.min(baseMs * 4 ** Math.max(0, attempt - 1), MAX_RETRY_DELAY_MS);
  return Math.round(d * (0.75 + random() * 0.5));
}

/** A Retry-After header (seconds, or an HTTP date) as a delay from `now`, or undefined when unreadable. */
export function retryAfterMs(header: string | undefined, now: Date): number | undefined {
  if (header === undefined) return undefined;
  const h = header.trim();
  let ms: number;
  if (/^\d{1,10}$/.test(h)) ms = Number(h) * 1000;
  else {
    const at = Date.parse(h);
    if (Number.isNaN(at)) return undefined;
    ms = at - now.getTime();
  }
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/** How many attempts' writes one statement carries at most. */
const ATTEMPT_WRITE_MAX = 256;

/** What one delivery needs once its round is claimed: the endpoint and the body. */
interface Delivery {
  e: WebhookEndpoint;
  m: ClaimedMessage;
  body: string;
  /** The lease the round's claim set. */
  leasedUntil: Date;
}

/**
 * Delivers the outbox, in rounds. A round claims up to the free slots (WEBHOOK_CONCURRENCY
 * deliveries in flight per process) of due messages under a lease in one statement, reads their
 * endpoints in one query and the conversions of the messages without a body yet in one (plus their
 * clicks and, for adjusted ones, their histories), then sends them. Each attempt's writes join the
 * others that finished meanwhile in one statement (a group commit), and its slot is freed once they
 * are written. A new round is claimed when half the slots are free (or at once when the last claim
 * was full and the dispatcher is idle), else every WEBHOOK_POLL_MS, and every WEBHOOK_POLL_MS too
 * while the process is busy with ingest (IngestLoad: the CPU goes to the conversions waiting, the
 * backlog waits and is caught up once they slow down); on PostgreSQL replicas share the
 * work (SKIP LOCKED), on SQLite the one process is the one worker. Nothing here blocks the event
 * loop (every step awaits I/O) or throws out of the loop: a failed round is logged and tried again.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('WebhookDispatcher');
  private timer?: NodeJS.Timeout;
  /** When the scheduled round runs (performance.now()). */
  private timerAt = 0;
  private stopping = false;
  private polling = false;
  /** Deliveries claimed and not yet written back (each holds a slot). */
  private inFlight = 0;
  private readonly chains = new Set<Promise<void>>();
  private readonly writes: WriteBatcher<AttemptWrite, void>;
  /** Busy with ingest: rounds wait WEBHOOK_POLL_MS between them instead of following back to back. */
  load: Pick<IngestLoad, 'isBusy'>;

  constructor(
    private readonly repo: WebhooksRepository,
    private readonly webhooks: WebhooksService,
    private readonly reads: ConversionReadsService,
    private readonly audit: AuditService,
    private readonly tx: TransactionScope,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.load = new IngestLoad(config.webhookBusyElu);
    this.writes = new WriteBatcher<AttemptWrite, void>(
      async (ws) => {
        try {
          await this.repo.recordAttempts(ws);
          return ws.map(() => ({ status: 'fulfilled' as const, value: undefined }));
        } catch (e) {
          if (ws.length === 1) throw e;
          // One attempt's bad write does not hold back the others: each on its own.
          return Promise.allSettled(ws.map((w) => this.repo.recordAttempts([w])));
        }
      },
      {
        maxInFlight: 1,
        maxBatch: ATTEMPT_WRITE_MAX,
        // The attempt is not recorded; its lease ends and it is tried again (nothing is lost).
        maxWaitMs: config.webhookLeaseMs,
        timeoutError: () => new Error('the attempt could not be written before its lease ended'),
      },
    );
  }

  onApplicationBootstrap(): void {
    if (this.config.webhookDispatcher) this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    // In-flight attempts end within WEBHOOK_TIMEOUT_MS; one cut short is sent again after its lease.
    await Promise.allSettled([...this.chains]);
    closeSenderAgents();
  }

  /** The next round in `ms`, unless one is already due sooner. */
  private schedule(ms: number): void {
    if (this.stopping) return;
    const at = performance.now() + ms;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, ms);
    this.timer.unref();
  }

  /** One round: claim what the free slots can take; the next round is scheduled by its end (see the class). */
  async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    let full = false;
    try {
      const free = this.config.webhookConcurrency - this.inFlight;
      if (free > 0) {
        const now = this.clock.now();
        const leasedUntil = new Date(now.getTime() + this.config.webhookLeaseMs);
        const claimed = await this.repo.claimDue(now, leasedUntil, free);
        full = claimed.length === free;
        if (claimed.length > 0) await this.start(claimed, leasedUntil);
      }
    } catch (e) {
      this.logger.warn(`webhook poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
      // A full claim: there is more due; the next round starts when half the slots are free, unless
      // the process is busy with ingest, when rounds wait WEBHOOK_POLL_MS (the backlog waits, nothing is lost).
      if (!full || this.load.isBusy()) this.schedule(this.config.webhookPollMs);
      else if (this.inFlight <= this.config.webhookConcurrency / 2) this.schedule(0);
    }
  }

  /** Reads the round's endpoints and bodies (one query each), then sends: one chain per endpoint and conversion. */
  private async start(claimed: ClaimedMessage[], leasedUntil: Date): Promise<void> {
    this.inFlight += claimed.length;
    let deliveries: (Delivery | null)[];
    try {
      const endpoints = new Map(
        (await this.repo.findEndpointsByIds([...new Set(claimed.map((m) => m.endpoint_id))])).map((e) => [e.id, e]),
      );
      const bodies = await this.bodiesOf(claimed);
      deliveries = claimed.map((m) => {
        const e = endpoints.get(m.endpoint_id);
        return e ? { e, m, body: bodies.get(m)!, leasedUntil } : null;
      });
    } catch (e) {
      // The round's leases end and its messages are taken again.
      this.inFlight -= claimed.length;
      throw e;
    }
    // Messages of one conversion to one endpoint go one after the other, oldest first.
    const chains = new Map<string, Delivery[]>();
    for (const d of deliveries) {
      if (!d) {
        this.release(1); // its endpoint is gone: the lease ends and the claim no longer sees it
        continue;
      }
      const k = `${d.m.endpoint_id}|${d.m.conversion_id}`;
      chains.set(k, [...(chains.get(k) ?? []), d]);
    }
    for (const chain of chains.values()) {
      const p = (async () => {
        for (const d of chain) {
          try {
            await this.deliver(d);
          } catch (err) {
            // The lease ends and the message is tried again; nothing is lost.
            this.logger.warn(`webhook ${d.m.id} attempt not recorded: ${(err as Error).message}`);
          } finally {
            this.release(1);
          }
        }
      })();
      this.chains.add(p);
      void p.finally(() => this.chains.delete(p));
    }
  }

  /** Frees slots; a new round once half of them are free. */
  private release(n: number): void {
    this.inFlight -= n;
    if (!this.polling && this.inFlight <= this.config.webhookConcurrency / 2)
      this.schedule(this.load.isBusy() ? this.config.webhookPollMs : 0);
  }

  /**
   * The bodies: fixed at a message's first attempt (the conversion as the admin view shows it then),
   * read for the whole round at once; a message whose conversion is gone carries `data: null`.
   */
  private async bodiesOf(claimed: ClaimedMessage[]): Promise<Map<ClaimedMessage, string>> {
    const out = new Map<ClaimedMessage, string>();
    const fresh = claimed.filter((m) => m.body === null);
    const views =
      fresh.length > 0
        ? await this.reads.getConversionsByKeys([
            ...new Map(fresh.map((m) => [m.conversion_id, { click_id: m.click_id, id: m.conversion_id }])).values(),
          ])
        : new Map<string, unknown>();
    for (const m of claimed) {
      out.set(
        m,
        m.body ??
          JSON.stringify({
            type: m.type,
            timestamp: m.created_at.toISOString(),
            data: views.get(m.conversion_id) ?? null,
          }),
      );
    }
    return out;
  }

  private secretsOf(e: WebhookEndpoint, now: Date): string[] {
    const secrets = [this.webhooks.box.open(e.secret_enc)];
    if (e.previous_secret_enc && e.previous_secret_until && e.previous_secret_until > now)
      secrets.push(this.webhooks.box.open(e.previous_secret_enc));
    return secrets;
  }

  /** One attempt: send, decide, and write (grouped with the attempts that finished meanwhile). */
  async deliver({ e, m, body, leasedUntil }: Delivery): Promise<SendResult> {
    const sentAt = this.clock.now();
    const headers = signedHeaders(this.secretsOf(e, sentAt), m.id, Math.floor(sentAt.getTime() / 1000), body);
    const r = await sendWebhook(e.url, headers, body, {
      timeoutMs: this.config.webhookTimeoutMs,
      allowPrivate: this.config.webhookAllowPrivate,
    });
    const now = this.clock.now();
    const ok = r.status !== null && r.status >= 200 && r.status < 300;
    let status: 'pending' | 'delivered' | 'failed' = ok ? 'delivered' : 'pending';
    let next: Date | null = null;
    let disable: 'gone' | 'failing' | undefined;
    let failingSince: Date | null = null;
    if (!ok) {
      // As the round read it: a failure of the endpoint written since then is seen by the next round.
      failingSince = e.failing_since ?? now;
      if (r.status === 410) disable = 'gone';
      else if (now.getTime() - failingSince.getTime() >= this.config.webhookDisableAfterMs) disable = 'failing';
      const after = r.status === 429 || r.status === 503 ? retryAfterMs(r.retryAfter, now) : undefined;
      const delay = after ?? retryDelayMs(m.attempts, this.config.webhookRetryBaseMs);
      // Retried until the window has passed: the try that fails after it is the last one.
      if (now.getTime() - m.cycle_started_at.getTime() >= this.config.webhookRetryWindowMs) status = 'failed';
      if (status === 'pending') next = new Date(now.getTime() + delay);
    }
    await this.writes.submit({
      message: {
        click_id: m.click_id,
        id: m.id,
        status,
        leased_until: leasedUntil,
        next_attempt_at: next ?? now,
        body,
        delivered_at: ok ? now : null,
      },
      delivery: {
        click_id: m.click_id,
        id: randomUUID(),
        message_id: m.id,
        endpoint_id: e.id,
        conversion_id: m.conversion_id,
        type: m.type,
        attempt: m.attempts,
        attempted_at: sentAt,
        status_code: r.status,
        latency_ms: r.latencyMs,
        error: r.error ?? (ok ? null : `HTTP ${r.status}`),
        next_attempt_at: disable ? null : next,
      },
      endpoint: { id: e.id, failing_since: failingSince },
    });
    if (disable) await this.disable(e, disable, now, failingSince, r);
    return r;
  }

  /** A 410, or failing for WEBHOOK_DISABLE_AFTER: the endpoint is disabled, with an audit entry, in one transaction. */
  private async disable(
    e: WebhookEndpoint,
    reason: 'gone' | 'failing',
    now: Date,
    failingSince: Date | null,
    r: SendResult,
  ): Promise<void> {
    await this.tx.run(async () => {
      if (!(await this.repo.disableEndpoint(e.id, reason, now))) return;
      await this.audit.record(
        SYSTEM,
        'webhook.disable',
        'webhook_endpoint',
        e.id,
        { enabled: true },
        {
          enabled: false,
          disabled_reason: reason,
          failing_since: failingSince?.toISOString() ?? null,
          last_status: r.status,
          last_error: r.error,
        },
      );
    });
    this.logger.warn(`webhook endpoint ${e.id} disabled (${reason})`);
  }
}
