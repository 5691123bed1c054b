import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { reasonOf } from '../attempts/refusal-reasons';
import { AdjustmentsService } from '../adjustments/adjustments.service';
import { DUPLICATE_REASON } from '../attempts/attempts.recorder';
import { ConversionAttempt } from '../attempts/conversion-attempt.entity';
import { ClicksService } from '../clicks/clicks.service';
import { DedupService } from '../dedup/dedup.service';
import {
  DailyOutcomeDto,
  DiagnosticsAlertDto,
  DiagnosticsSummaryDto,
  ExplainAttemptDto,
  ExplainCheckDto,
  ExplainClaimDto,
  ExplainClickDto,
  ExplainConversionDto,
  ExplainDto,
  ExplainDuplicateDto,
  ExplainQueryDto,
} from './diagnostics.dto';
import {
  ClaimRow,
  ClickRow,
  ConversionRow,
  DiagnosticsRepository,
  isStorable,
  WebhookDeliveryRow,
} from './diagnostics.repository';

/** An alert is raised when a reason is at least this share of the last 24 h's attempts… */
export const ALERT_MIN_SHARE = 0.1;
/** …and at least this many. */
export const ALERT_MIN_COUNT = 3;

const DAY_MS = 86_400_000;

const NOT_RECORDED = [
  'Validate-only requests (?validate_only=true) keep nothing, not even a duplicate or a refusal.',
  'Unauthenticated attempts (401) are counted in metrics only.',
];

/** Kept attempts: the refused ones, and the `duplicate` answers (accepted retries, shown apart). */
function splitDuplicates(kept: ConversionAttempt[]): [ConversionAttempt[], ConversionAttempt[]] {
  return [kept.filter((a) => a.reason !== DUPLICATE_REASON), kept.filter((a) => a.reason === DUPLICATE_REASON)];
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function whitespaceOf(s: string): string | null {
  const lead = s !== s.trimStart();
  const trail = s !== s.trimEnd();
  if (lead && trail) return 'leading and trailing whitespace';
  if (lead) return 'leading whitespace';
  if (trail) return s.endsWith(' ') ? 'a trailing space' : 'trailing whitespace';
  return null;
}

/**
 * "Why didn't my sale count?": the whole story of a click (or an order) in one document, each
 * check with its verdict in words a support agent can read back, and per-partner daily outcomes
 * with alerts. Reads only; the reason texts come from one catalogue (REFUSAL_REASONS).
 */
@Injectable()
export class DiagnosticsService {
  constructor(
    private readonly repo: DiagnosticsRepository,
    private readonly clicks: ClicksService,
    private readonly dedup: DedupService,
    private readonly clock: Clock,
    private readonly adjustments: AdjustmentsService,
  ) {}

  /** Support: by click id, or by order id and partner. */
  async explain(q: ExplainQueryDto): Promise<ExplainDto> {
    if (q.click_id !== undefined) return this.explainClick(q.click_id);
    if (q.order_id !== undefined && q.partner_id !== undefined) return this.explainOrder(q.partner_id, q.order_id);
    const loc = q.order_id !== undefined ? 'partner_id' : q.partner_id !== undefined ? 'order_id' : 'click_id';
    throw AppError.validation([
      {
        type: 'missing',
        loc: ['query', loc],
        msg: 'Field required: give click_id, or order_id together with partner_id',
        input: null,
      },
    ]);
  }

  /** A partner's own click; another partner's click and an unknown one are the same 404. */
  async explainOwnClick(partnerId: string, clickId: string): Promise<ExplainDto> {
    const click = await this.repo.findClick(clickId);
    if (!click || click.partner_id !== partnerId) throw new AppError('click_not_found');
    return this.explainClick(clickId, partnerId, click);
  }

  private async explainClick(clickId: string, viewer?: string, known?: ClickRow): Promise<ExplainDto> {
    const click = known ?? (await this.repo.findClick(clickId));
    const [conversions, claims, kept, deliveries] = await Promise.all([
      this.repo.conversionsOfClick(clickId),
      this.repo.claimsOfClick(clickId),
      this.repo.attemptsOfClick(clickId, viewer),
      this.repo.webhookDeliveriesOfClick(clickId),
    ]);
    const [attempts, duplicates] = splitDuplicates(kept);
    const checks: ExplainCheckDto[] = [];
    await this.clickChecks(checks, clickId, click, attempts);
    this.storyChecks(checks, conversions, claims, attempts, click ? 'on this click' : 'with this click id');
    return this.document(
      { click_id: clickId },
      checks,
      clickId,
      click,
      conversions,
      claims,
      attempts,
      deliveries,
      duplicates,
    );
  }

  private async explainOrder(partnerId: string, orderId: string): Promise<ExplainDto> {
    const checks: ExplainCheckDto[] = [];
    if (!(await this.repo.partnerExists(partnerId))) {
      checks.push({ check: 'partner', verdict: 'problem', message: `No partner with id \`${partnerId}\` exists.` });
    }
    const [conversions, kept] = await Promise.all([
      this.repo.conversionsOfOrder(partnerId, orderId),
      this.repo.attemptsOfOrder(partnerId, orderId),
    ]);
    const [attempts, duplicates] = splitDuplicates(kept);
    if (conversions.length > 0) {
      checks.push({
        check: 'order_stored',
        verdict: 'ok',
        message: `${plural(conversions.length, 'conversion')} with order id \`${orderId}\` ${conversions.length === 1 ? 'was' : 'were'} stored for this partner.`,
      });
    } else {
      let message = `No conversion with order id \`${orderId}\` was ever stored for this partner.`;
      const ws = whitespaceOf(orderId);
      if (ws) {
        message += ` The order id sent was \`${orderId}\` with ${ws}`;
        const trimmed = await this.repo.conversionsOfOrder(partnerId, orderId.trim());
        message += trimmed.length > 0 ? `; a conversion with order id \`${orderId.trim()}\` exists.` : '.';
      }
      checks.push({ check: 'order_stored', verdict: 'problem', message });
    }
    // The click of the latest conversion or attempt is the one explained.
    const latest = [
      ...conversions.map((c) => ({ at: c.created_at.getTime(), click: c.click_id })),
      ...kept.filter((a) => a.click_id !== null).map((a) => ({ at: a.at.getTime(), click: a.click_id! })),
    ].sort((a, b) => a.at - b.at);
    const clickIds = [...new Set(latest.map((l) => l.click))];
    if (clickIds.length > 1) {
      checks.push({
        check: 'click_ids',
        verdict: 'warning',
        message: `This order was sent with ${clickIds.length} different click ids (${clickIds
          .slice(0, 5)
          .map((c) => `\`${c}\``)
          .join(', ')}); the latest is explained below.`,
      });
    }
    const clickId = latest.length > 0 ? latest[latest.length - 1].click : null;
    let click: ClickRow | null = null;
    let claims: ClaimRow[] = [];
    let deliveries: WebhookDeliveryRow[] = [];
    if (clickId !== null) {
      click = await this.repo.findClick(clickId);
      claims = await this.repo.claimsOfClick(clickId);
      deliveries = await this.repo.webhookDeliveriesOfClick(clickId);
      await this.clickChecks(checks, clickId, click, attempts);
    }
    this.storyChecks(checks, [], claims, attempts, 'for this order');
    return this.document(
      { order_id: orderId, partner_id: partnerId },
      checks,
      clickId,
      click,
      conversions,
      claims,
      attempts,
      deliveries,
      duplicates,
    );
  }

  private async clickChecks(
    checks: ExplainCheckDto[],
    clickId: string,
    click: ClickRow | null,
    attempts: ConversionAttempt[],
  ): Promise<void> {
    if (!click) {
      checks.push({ check: 'click_registered', verdict: 'problem', message: await this.missingClick(clickId) });
      return;
    }
    checks.push({
      check: 'click_registered',
      verdict: 'ok',
      message: `The click was registered at ${click.clicked_at.toISOString()} on tag \`${click.tag_id}\` of partner \`${click.partner_id}\`.`,
    });
    const strangers = [...new Set(attempts.map((a) => a.partner_id).filter((p) => p !== click.partner_id))];
    if (strangers.length > 0) {
      checks.push({
        check: 'click_owner',
        verdict: 'problem',
        message: `Attempts on this click came from ${strangers.map((p) => `partner \`${p}\``).join(', ')}, which does not own it: a partner can only send conversions on its own clicks (answered \`Click not found\`).`,
      });
    }
    checks.push(
      click.bid_id !== null
        ? { check: 'bid_id', verdict: 'ok', message: `Bid id \`${click.bid_id}\` is attached.` }
        : {
            check: 'bid_id',
            verdict: 'problem',
            message:
              'The click has no bid id: conversions on it are refused with `Click missing bid id` (400) until the ad server attaches one.',
          },
    );
    const until = this.signatureUntil(click);
    checks.push(
      until > this.clock.now().getTime()
        ? {
            check: 'tag_signature',
            verdict: 'ok',
            message: `A Tag signature for this click is valid until ${new Date(until).toISOString()}.`,
          }
        : {
            check: 'tag_signature',
            verdict: 'warning',
            message: `The Tag's signature for this click expired at ${new Date(until).toISOString()}: Tag conversions on it are refused (401); server conversions are not affected.`,
          },
    );
  }

  /** The words for a click id nobody registered, with what it probably should have been. */
  private async missingClick(clickId: string): Promise<string> {
    let message = 'No click with this id was ever registered';
    if (!isStorable(clickId))
      return `${message}; the id sent contains a NUL character or broken Unicode, which no click id can hold.`;
    const trimmed = clickId.trim();
    const ws = whitespaceOf(clickId);
    if (ws) {
      message += `; the id sent was \`${clickId}\` with ${ws}`;
      if (trimmed && (await this.repo.findClick(trimmed))) return `${message}, and a click \`${trimmed}\` exists.`;
    }
    for (const variant of new Set([trimmed.toLowerCase(), trimmed.toUpperCase()])) {
      if (variant && variant !== clickId && variant !== trimmed && (await this.repo.findClick(variant)))
        return `${message}; a click \`${variant}\` exists: the id differs only in letter case (ids are case-sensitive).`;
    }
    const near = trimmed ? (await this.repo.clickIdsStartingWith(trimmed)).filter((id) => id !== trimmed) : [];
    if (near.length > 0)
      return `${message}; the id may have been cut short: ${near.map((n) => `\`${n}\``).join(', ')} start${near.length === 1 ? 's' : ''} with it.`;
    return `${message}. Check that the id is the one the Tag captured on landing (thrad_click_id).`;
  }

  private storyChecks(
    checks: ExplainCheckDto[],
    conversions: ConversionRow[],
    claims: ClaimRow[],
    attempts: ConversionAttempt[],
    where: string,
  ): void {
    if (where !== 'for this order') {
      checks.push(
        conversions.length > 0
          ? {
              check: 'conversions',
              verdict: 'ok',
              message: `${plural(conversions.length, 'conversion')} ${conversions.length === 1 ? 'was' : 'were'} stored ${where} (${[...new Set(conversions.map((c) => c.source))].join(', ')}).`,
            }
          : { check: 'conversions', verdict: 'problem', message: `No conversion was ever stored ${where}.` },
      );
    }
    const windowStart = this.dedup.windowStart(this.clock.now());
    const active = claims.filter((c) => c.claimed_at > windowStart);
    if (claims.length > 0) {
      checks.push({
        check: 'dedup',
        verdict: 'info',
        message:
          active.length > 0
            ? `${plural(active.length, 'dedup key')} held: a repeat of ${active
                .slice(0, 5)
                .map((c) => `\`${c.dedup_key}\` (${c.event_type})`)
                .join(
                  ', ',
                )} within its window is answered \`duplicate\`: accepted, not stored again (each such answer is listed under duplicates).`
            : 'Every dedup key on this click has left its window: a repeat would be stored again.',
      });
    }
    if (attempts.length === 0) {
      checks.push({ check: 'refused_attempts', verdict: 'ok', message: `No refused attempt was kept ${where}.` });
      return;
    }
    const byReason = new Map<string, number>();
    for (const a of attempts) byReason.set(a.reason, (byReason.get(a.reason) ?? 0) + 1);
    const parts = [...byReason].map(([r, n]) => {
      const reason = reasonOf(r);
      return `${n} × \`${reason.label}\` (${reason.advice})`;
    });
    checks.push({
      check: 'refused_attempts',
      verdict: conversions.length > 0 ? 'warning' : 'problem',
      message: `${plural(attempts.length, 'attempt')} ${attempts.length === 1 ? 'was' : 'were'} refused ${where}: ${parts.join('; ')}.`,
    });
  }

  private signatureUntil(click: ClickRow): number {
    return this.clicks.signClick(click).exp * 1000;
  }

  private async document(
    subject: ExplainDto['subject'],
    checks: ExplainCheckDto[],
    clickId: string | null,
    click: ClickRow | null,
    conversions: ConversionRow[],
    claims: ClaimRow[],
    attempts: ConversionAttempt[],
    deliveries: WebhookDeliveryRow[] = [],
    duplicates: ConversionAttempt[] = [],
  ): Promise<ExplainDto> {
    const histories = await Promise.all(conversions.map((c) => this.adjustments.historyOf(c.click_id, c.id)));
    conversions.forEach((c, i) => {
      if (histories[i].length === 0) return;
      const net =
        c.status === 'retracted' ? 'retracted (it no longer counts)' : `net value ${c.current_value} ${c.currency}`;
      checks.push({
        check: 'adjustments',
        verdict: c.status === 'retracted' ? 'warning' : 'ok',
        message: `Conversion \`${c.id}\` (sent as ${c.conversion_value} ${c.currency}) has ${plural(histories[i].length, 'adjustment')}: ${net}.`,
      });
    });
    const layerOf = new Map(conversions.map((c) => [c.id, c.dedup_layer]));
    const windowMs = this.clock.now().getTime() - this.dedup.windowStart(this.clock.now());
    const now = this.clock.now().getTime();
    const problems = checks.filter((c) => c.verdict === 'problem');
    return {
      subject,
      summary:
        problems.length > 0
          ? problems.map((p) => p.message).join(' ')
          : `Everything checks out: ${plural(conversions.length, 'conversion')} stored, ${plural(attempts.length, 'refused attempt')}.`,
      checks,
      click: clickId === null ? null : this.clickView(clickId, click),
      conversions: conversions.map((c, i): ExplainConversionDto => ({
        id: c.id,
        source: c.source,
        event_type: c.event_type,
        conversion_value: c.conversion_value,
        currency: c.currency,
        conversion_time: c.conversion_time.toISOString(),
        created_at: c.created_at.toISOString(),
        order_id: c.order_id,
        event_id: c.event_id,
        dedup_key: c.dedup_key,
        dedup_layer: c.dedup_layer,
        current_value: c.current_value,
        status: c.status,
        adjusted_at: c.adjusted_at ? c.adjusted_at.toISOString() : null,
        adjustments: histories[i],
      })),
      dedup_claims: claims.map((c): ExplainClaimDto => ({
        dedup_key: c.dedup_key,
        event_type: c.event_type,
        layer: layerOf.get(c.conversion_id) ?? null,
        holder_conversion_id: c.conversion_id,
        first_seen_at: new Date(c.claimed_at).toISOString(),
        window_ends_at: new Date(c.claimed_at + windowMs).toISOString(),
        active: c.claimed_at + windowMs > now,
      })),
      refused_attempts: attempts.map((a): ExplainAttemptDto => ({
        at: a.at.toISOString(),
        source: a.source,
        status: a.status,
        reason: a.reason,
        reason_label: reasonOf(a.reason).label,
        advice: reasonOf(a.reason).advice,
        error_loc: a.error_loc,
        error_type: a.error_type,
        click_id: a.click_id,
        order_id: a.order_id,
        event_id: a.event_id,
        event_type: a.event_type,
        request_id: a.request_id,
        key_id: a.key_id,
        partner_id: a.partner_id,
      })),
      duplicates: duplicates.map((a): ExplainDuplicateDto => ({
        at: a.at.toISOString(),
        source: a.source,
        matched_on: a.matched_on ?? null,
        conversion_id: a.matched_conversion_id ?? null,
        message: `A retry of conversion \`${a.matched_conversion_id ?? 'unknown'}\`${a.matched_on ? ` (same ${a.matched_on})` : ''}, answered \`duplicate\` on ${a.at.toISOString()}: accepted, nothing new was stored.`,
        click_id: a.click_id,
        order_id: a.order_id,
        event_id: a.event_id,
        event_type: a.event_type,
        request_id: a.request_id,
        key_id: a.key_id,
        partner_id: a.partner_id,
      })),
      webhook_deliveries: deliveries.map((d) => ({
        ...d,
        attempted_at: d.attempted_at.toISOString(),
        next_attempt_at: d.next_attempt_at ? d.next_attempt_at.toISOString() : null,
      })),
      not_recorded: NOT_RECORDED,
    };
  }

  private clickView(clickId: string, c: ClickRow | null): ExplainClickDto {
    if (!c) {
      return {
        found: false,
        click_id: clickId,
        tag_id: null,
        partner_id: null,
        bid_id: null,
        clicked_at: null,
        landing_url: null,
        signature_valid_until: null,
        signature_valid_now: false,
      };
    }
    const until = this.signatureUntil(c);
    return {
      found: true,
      click_id: c.click_id,
      tag_id: c.tag_id,
      partner_id: c.partner_id,
      bid_id: c.bid_id,
      clicked_at: c.clicked_at.toISOString(),
      landing_url: c.landing_url,
      signature_valid_until: new Date(until).toISOString(),
      signature_valid_now: until > this.clock.now().getTime(),
    };
  }

  /** Per UTC day: stored, refused by reason, success rate; and alerts on the last 24 h. */
  async summary(partnerId: string, days: number): Promise<DiagnosticsSummaryDto> {
    const now = this.clock.now();
    const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const from = new Date(today - (days - 1) * DAY_MS);
    const since24h = new Date(now.getTime() - DAY_MS);
    const [ok, refused, ok24, refused24] = await Promise.all([
      this.repo.conversionsPerDay(partnerId, from),
      this.repo.attemptsPerDay(partnerId, from),
      this.repo.conversionsSince(partnerId, since24h),
      this.repo.attemptsSinceByReason(partnerId, since24h),
    ]);
    const daily: DailyOutcomeDto[] = [];
    const byDay = new Map<string, DailyOutcomeDto>();
    for (let i = 0; i < days; i++) {
      const date = new Date(from.getTime() + i * DAY_MS).toISOString().slice(0, 10);
      const d: DailyOutcomeDto = {
        date,
        ok: 0,
        duplicate: 0,
        refused: 0,
        refused_by_reason: {},
        attribution: {},
        success_rate: null,
      };
      daily.push(d);
      byDay.set(date, d);
    }
    for (const r of ok) {
      const d = byDay.get(r.day);
      if (!d) continue;
      d.ok += r.n;
      d.attribution[r.key] = (d.attribution[r.key] ?? 0) + r.n;
    }
    for (const r of refused) {
      const d = byDay.get(r.day);
      if (!d) continue;
      if (r.key === DUPLICATE_REASON) {
        d.duplicate += r.n;
        continue;
      }
      d.refused += r.n;
      d.refused_by_reason[r.key] = (d.refused_by_reason[r.key] ?? 0) + r.n;
    }
    for (const d of daily) {
      // A duplicate is an accepted retry: it counts with the stored ones, never against the rate.
      const accepted = d.ok + d.duplicate;
      const total = accepted + d.refused;
      d.success_rate = total === 0 ? null : Math.round((accepted / total) * 10_000) / 10_000;
    }
    const total24 = ok24 + [...refused24.values()].reduce((a, b) => a + b, 0);
    const alerts: DiagnosticsAlertDto[] = [];
    for (const [reason, count] of [...refused24].sort((a, b) => b[1] - a[1])) {
      if (reason === DUPLICATE_REASON) continue;
      const share = count / total24;
      if (count < ALERT_MIN_COUNT || share < ALERT_MIN_SHARE) continue;
      const r = reasonOf(reason);
      alerts.push({
        reason,
        share: Math.round(share * 10_000) / 10_000,
        count,
        message: `${Math.round(share * 100)}% of your conversions in the last 24 h were \`${r.label}\`: ${r.advice}`,
        advice: r.advice,
      });
    }
    return {
      partner_id: partnerId,
      days,
      daily,
      alerts,
      notes: [
        'ok counts conversions stored that day (UTC); duplicate counts retries answered `duplicate`; refused counts refused attempts kept (ATTEMPTS_RETENTION).',
        'success_rate is (ok + duplicate) / (ok + duplicate + refused): a duplicate is an accepted retry.',
        'Duplicates and refusals are kept in the background: under overload some may be dropped (conversion_attempts_dropped_total); validate-only requests are not counted.',
        'Attribution verdicts appear here once the service records them.',
      ],
    };
  }

  /** Support's view of a partner's summary; 404 for an unknown partner. */
  async partnerSummary(partnerId: string, days: number): Promise<DiagnosticsSummaryDto> {
    if (!(await this.repo.partnerExists(partnerId))) throw new AppError('partner_not_found');
    return this.summary(partnerId, days);
  }
}
