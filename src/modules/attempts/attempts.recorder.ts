import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Counter } from 'prom-client';
import { Clock } from '../../common/clock';
import type { DataMode } from '../../common/data-mode';
import type { ValidationIssue } from '../../common/errors';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import type { Principal } from '../auth/principal';
import { ClicksService } from '../clicks/clicks.service';
import { MetricsService } from '../observability/metrics.service';
import { AttemptsRepository } from './attempts.repository';
import type { ConversionRefusalListener } from '../observability/conversion-refusals';
import { AttemptSource, ConversionAttempt } from './conversion-attempt.entity';

/** The reason of a row that is a `duplicate` answer, not a refusal (status 200). */
export const DUPLICATE_REASON = 'duplicate';

/** Rows per INSERT (and the queue length that triggers a flush before the interval). */
export const FLUSH_BATCH = 500;

/** One refused attempt, as the conversion paths describe it. Field values are taken as sent and bounded. */
export interface RefusedAttempt {
  /** The caller's partner; null for the Tag, whose partner is the click's (resolved when written). */
  partnerId: string | null;
  keyId: string | null;
  source: AttemptSource;
  clickId?: unknown;
  orderId?: unknown;
  eventId?: unknown;
  eventType?: unknown;
  status: number;
  /** A reason code: click_not_found, click_missing_bid, validation, rate_limited, … */
  reason: string;
  /** For a 422, the first issue (its loc and type are kept). */
  issue?: Pick<ValidationIssue, 'loc' | 'type'> | null;
  requestId?: string | null;
  /** The key's mode; for the Tag, resolved from its click when written. */
  mode?: DataMode;
}

/** One conversion answered `duplicate` (an accepted retry): kept like a refused attempt, in the background. */
export interface DuplicateAttempt {
  partnerId: string;
  keyId: string | null;
  source: AttemptSource;
  clickId: string;
  orderId: string | null;
  eventId: string | null;
  eventType: string;
  /** The dedup layer that matched and the conversion that holds the key. */
  matchedOn: string;
  matchedConversionId: string;
  requestId?: string | null;
  mode: DataMode;
}

/** Text as sent, storable on both drivers (no NUL), at most `max` characters. */
function bounded(v: unknown, max = 255): string | null {
  let s: string;
  if (typeof v === 'string') s = v;
  else if (typeof v === 'number' || typeof v === 'boolean') s = String(v);
  else return null;
  if (s.length > max)
    s = Array.from(s.slice(0, max * 2))
      .slice(0, max)
      .join('');
  return s
    .replace(/\u0000/g, '\uFFFD')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The reason code of a failure kind (as the exception filter names it) and its answer body. */
export function reasonOfFailure(
  kind: string | undefined,
  status: number,
  detail: unknown,
): { reason: string; issue: Pick<ValidationIssue, 'loc' | 'type'> | null } {
  const first = Array.isArray(detail) ? (detail[0] as ValidationIssue | undefined) : undefined;
  const issue = first && Array.isArray(first.loc) ? { loc: first.loc, type: String(first.type) } : null;
  if (status === 422) {
    const rule = issue?.type === 'json_invalid' ? 'json_invalid' : undefined;
    return { reason: rule ?? 'validation', issue };
  }
  if (kind && !kind.startsWith('http_')) return { reason: kind, issue };
  if (status === 429) return { reason: 'rate_limited', issue };
  if (status === 503) return { reason: 'unavailable', issue };
  return { reason: kind ?? `http_${status}`, issue };
}

/**
 * Keeps refused conversion attempts without slowing or failing the conversion path: `refused()`
 * only queues (bounded; a full queue drops and counts), and a background flush writes the queue
 * in batches, one multi-row INSERT each, every ATTEMPTS_FLUSH_INTERVAL or as soon as FLUSH_BATCH
 * are waiting. A failed flush is logged and counted, never seen by a client. Flushed at shutdown.
 */
@Injectable()
export class AttemptsRecorder implements ConversionRefusalListener, OnModuleInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('AttemptsRecorder');
  private queue: ConversionAttempt[] = [];
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private failureLoggedAt = 0;
  private readonly dropped: Counter<'reason'>;
  private readonly recorded: Counter<'reason'>;
  private readonly enabled: boolean;

  constructor(
    private readonly repo: AttemptsRepository,
    private readonly clock: Clock,
    private readonly clicks: ClicksService,
    metrics: MetricsService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.enabled = config.attemptsRecording;
    this.dropped = new Counter({
      name: 'conversion_attempts_dropped_total',
      help: 'Refused conversion attempts (and duplicate answers) not kept: queue_full (the write queue was full) or write_failed (a flush failed).',
      labelNames: ['reason'] as const,
      registers: [metrics.registry],
    });
    this.recorded = new Counter({
      name: 'conversion_attempts_recorded_total',
      help: 'Refused conversion attempts (and duplicate answers, reason duplicate) written to conversion_attempts, by reason code.',
      labelNames: ['reason'] as const,
      registers: [metrics.registry],
    });
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.flush(), this.config.attemptsFlushMs);
    this.timer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /** Attempts waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues one refused attempt. Returns at once; never throws. */
  refused(a: RefusedAttempt): void {
    if (!this.enabled) return;
    if (this.queue.length >= this.config.attemptsQueueMax) {
      this.dropped.inc({ reason: 'queue_full' });
      return;
    }
    this.queue.push({
      id: randomUUID(),
      at: this.clock.now(),
      partner_id: a.partnerId ?? '',
      key_id: a.keyId,
      source: a.source,
      click_id: bounded(a.clickId),
      order_id: bounded(a.orderId),
      event_id: bounded(a.eventId),
      event_type: bounded(a.eventType),
      status: a.status,
      reason: bounded(a.reason, 64) ?? 'unknown',
      error_loc: a.issue ? bounded(a.issue.loc.join('.')) : null,
      error_type: a.issue ? bounded(a.issue.type, 64) : null,
      request_id: bounded(a.requestId ?? null, 128),
      mode: a.mode ?? 'live',
    });
    if (this.queue.length >= FLUSH_BATCH && !this.flushing) setImmediate(() => void this.flush());
  }

  /**
   * Queues one `duplicate` answer (reason `duplicate`, status 200): the same bounded queue, the same
   * dropped counter, no write on the request path. Returns at once; never throws.
   */
  duplicate(a: DuplicateAttempt): void {
    if (!this.enabled) return;
    if (this.queue.length >= this.config.attemptsQueueMax) {
      this.dropped.inc({ reason: 'queue_full' });
      return;
    }
    this.queue.push({
      id: randomUUID(),
      at: this.clock.now(),
      partner_id: a.partnerId,
      key_id: a.keyId,
      source: a.source,
      click_id: bounded(a.clickId),
      order_id: bounded(a.orderId),
      event_id: bounded(a.eventId),
      event_type: bounded(a.eventType),
      status: 200,
      reason: DUPLICATE_REASON,
      error_loc: null,
      error_type: null,
      request_id: bounded(a.requestId ?? null, 128),
      mode: a.mode,
      matched_on: bounded(a.matchedOn, 16),
      matched_conversion_id: bounded(a.matchedConversionId, 36),
    });
    if (this.queue.length >= FLUSH_BATCH && !this.flushing) setImmediate(() => void this.flush());
  }

  /** The request hook's call (see CONVERSION_REFUSALS): who, what was sent, and why it was refused. */
  onRefused(request: unknown, source: string, status: number, kind: string | undefined, payload: unknown): void {
    try {
      // Unauthenticated (401) attempts are only counted in metrics, never stored.
      if (status === 401 || !this.enabled) return;
      const req = request as { id?: string; body?: unknown; principal?: Principal };
      const principal = req.principal;
      if (source !== 'tag' && !principal?.partnerId) return;
      const body =
        req.body && typeof req.body === 'object' && !Array.isArray(req.body)
          ? (req.body as Record<string, unknown>)
          : {};
      // The Tag's credential is its signed click: without a click id there is no partner to file it under.
      // A Tag request counts as authenticated only with a signature that verifies (a cheap HMAC, no
      // database read): a refusal before the signature check (the per-address limit) may be anyone's.
      if (source === 'tag' && this.clicks.verifyClickSignature(body.click_id, body.sig, body.exp) !== 'valid') return;
      const { reason, issue } = reasonOfFailure(kind, status, (payload as { detail?: unknown } | null)?.detail);
      this.refused({
        partnerId: source === 'tag' ? null : principal!.partnerId,
        keyId: source === 'tag' ? null : principal!.keyId,
        source: source as AttemptSource,
        clickId: body.click_id,
        orderId: body.order_id,
        eventId: body.event_id,
        eventType: body.event_type,
        status,
        reason,
        issue,
        requestId: req.id,
        mode: source === 'tag' ? undefined : principal!.mode,
      });
    } catch (e) {
      this.logger.warn(`Could not queue a refused attempt: ${(e as Error)?.message ?? e}`);
    }
  }

  /** Writes everything queued so far (in batches); resolves when done. Never rejects. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.queue.length === 0) return Promise.resolve();
    this.flushing = this.drain().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, FLUSH_BATCH);
      try {
        const unresolved = [...new Set(batch.filter((r) => !r.partner_id && r.click_id).map((r) => r.click_id!))];
        const owners = await this.repo.partnersOfClicks(unresolved);
        const rows = batch.filter((r) => {
          if (!r.partner_id) {
            const owner = r.click_id ? owners.get(r.click_id) : undefined;
            r.partner_id = owner?.partner_id ?? '';
            r.mode = owner?.mode ?? 'live';
          }
          return r.partner_id !== '';
        });
        await this.repo.insertMany(rows);
        for (const r of rows) this.recorded.inc({ reason: r.reason });
      } catch (e) {
        this.dropped.inc({ reason: 'write_failed' }, batch.length);
        const now = Date.now();
        if (now - this.failureLoggedAt >= 5000) {
          this.failureLoggedAt = now;
          this.logger.warn(`Could not write ${batch.length} refused attempts: ${(e as Error)?.message ?? e}`);
        }
      }
    }
  }
}
