import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { TransactionScope } from '../../database/transaction-scope';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { ConversionReadsService } from '../conversions/conversion-reads.service';
import { closeSenderAgents, SendResult, sendWebhook } from './webhook-sender';
import { signedHeaders } from './webhook-signature';
import { WebhookEndpoint } from './webhook.entities';
import { ClaimedMessage, WebhooksRepository } from './webhooks.repository';
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

/**
 * Delivers the outbox. Each process polls for due messages (WEBHOOK_POLL_MS), claims up to its free
 * slots (WEBHOOK_CONCURRENCY) under a lease, and sends them; on PostgreSQL replicas share the work
 * (SKIP LOCKED), on SQLite the one process is the one worker. Nothing here blocks the event loop
 * (every step awaits I/O) or throws out of the loop: a failed poll is logged and tried again.
 */
@Injectable()
export class WebhookDispatcher implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('WebhookDispatcher');
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private polling = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly repo: WebhooksRepository,
    private readonly webhooks: WebhooksService,
    private readonly reads: ConversionReadsService,
    private readonly audit: AuditService,
    private readonly tx: TransactionScope,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.webhookDispatcher) this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    // In-flight attempts end within WEBHOOK_TIMEOUT_MS; one cut short is sent again after its lease.
    await Promise.allSettled([...this.inFlight]);
    closeSenderAgents();
  }

  private schedule(ms: number): void {
    if (this.stopping) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
    this.timer.unref();
  }

  /** One poll: claim what the free slots can take; poll again at once when the claim was full. */
  async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    let full = false;
    try {
      const free = this.config.webhookConcurrency - this.inFlight.size;
      if (free > 0) {
        const now = this.clock.now();
        const claimed = await this.repo.claimDue(now, new Date(now.getTime() + this.config.webhookLeaseMs), free);
        full = claimed.length === free;
        if (claimed.length > 0) await this.sendAll(claimed);
      }
    } catch (e) {
      this.logger.warn(`webhook poll failed: ${(e as Error).message}`);
    } finally {
      this.polling = false;
      this.schedule(full ? 0 : this.config.webhookPollMs);
    }
  }

  private async sendAll(claimed: ClaimedMessage[]): Promise<void> {
    const endpoints = new Map(
      (await this.repo.findEndpointsByIds([...new Set(claimed.map((m) => m.endpoint_id))])).map((e) => [e.id, e]),
    );
    // Messages of one conversion to one endpoint go one after the other, oldest first.
    const chains = new Map<string, ClaimedMessage[]>();
    for (const m of claimed) {
      const k = `${m.endpoint_id}|${m.conversion_id}`;
      chains.set(k, [...(chains.get(k) ?? []), m]);
    }
    for (const chain of chains.values()) {
      const p = (async () => {
        for (const m of chain) {
          const e = endpoints.get(m.endpoint_id);
          if (e) await this.deliverSafely(e, m);
        }
      })();
      this.inFlight.add(p);
      void p.finally(() => {
        this.inFlight.delete(p);
        if (!this.polling) this.schedule(0);
      });
    }
  }

  private async deliverSafely(e: WebhookEndpoint, m: ClaimedMessage): Promise<void> {
    try {
      await this.deliver(e, m);
    } catch (err) {
      // The lease ends and the message is tried again; nothing is lost.
      this.logger.warn(`webhook ${m.id} attempt not recorded: ${(err as Error).message}`);
    }
  }

  /** The body: fixed at the first attempt (the conversion as the admin view shows it then). */
  private async bodyOf(m: ClaimedMessage): Promise<string> {
    if (m.body !== null) return m.body;
    let data: unknown = null;
    try {
      data = await this.reads.getConversion(m.conversion_id);
    } catch (e) {
      if (!(e instanceof AppError && e.code === 'conversion_not_found')) throw e;
    }
    return JSON.stringify({ type: m.type, timestamp: m.created_at.toISOString(), data });
  }

  private secretsOf(e: WebhookEndpoint, now: Date): string[] {
    const secrets = [this.webhooks.box.open(e.secret_enc)];
    if (e.previous_secret_enc && e.previous_secret_until && e.previous_secret_until > now)
      secrets.push(this.webhooks.box.open(e.previous_secret_enc));
    return secrets;
  }

  async deliver(e: WebhookEndpoint, m: ClaimedMessage): Promise<SendResult> {
    const body = await this.bodyOf(m);
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
      failingSince = (await this.repo.failingSince(e.id)) ?? now;
      if (r.status === 410) disable = 'gone';
      else if (now.getTime() - failingSince.getTime() >= this.config.webhookDisableAfterMs) disable = 'failing';
      const after = r.status === 429 || r.status === 503 ? retryAfterMs(r.retryAfter, now) : undefined;
      const delay = after ?? retryDelayMs(m.attempts, this.config.webhookRetryBaseMs);
      // Retried until the window has passed: the try that fails after it is the last one.
      if (now.getTime() - m.cycle_started_at.getTime() >= this.config.webhookRetryWindowMs) status = 'failed';
      if (status === 'pending') next = new Date(now.getTime() + delay);
    }
    await this.repo.recordAttempt({
      message: {
        click_id: m.click_id,
        id: m.id,
        status,
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
