import { Inject, Injectable, Optional } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock';
import type { DataMode } from '../../common/data-mode';
import { AppError } from '../../common/errors';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { ClicksService } from '../clicks/clicks.service';
import { AttemptsRecorder } from '../attempts/attempts.recorder';
import { MetricsService } from '../observability/metrics.service';
import { DedupService } from '../dedup/dedup.service';
import { PartnersService } from '../partners/partners.service';
import type { ConversionSource } from './conversion.entity';
import { ConversionCommand } from './conversion.command';
import { ConversionResultDto, PayloadField } from './conversion.dto';
import { ConversionsRepository, NewConversion, RecordOutcome } from './conversions.repository';
import {
  attributionRejection,
  attributionTiming,
  attributionWarning,
  isRefusedByPolicy,
  windowMsOf,
} from './attribution-time';

export { DEFAULT_EVENT_TYPE } from './conversion.command';

/** Where a conversion came from and on whose behalf. */
export interface RecordContext {
  partnerId: string;
  source: ConversionSource;
  idempotencyKey?: string | null;
  /** `?validate_only=true`: every check, the same answer, nothing written (not even a dedup claim). */
  validateOnly?: boolean;
  /** The caller's key's mode (the Tag: its click's): a test conversion is test data. */
  mode: DataMode;
  /** The API key used (null for the Tag) and the request id: kept with a `duplicate` answer. */
  keyId?: string | null;
  requestId?: string | null;
  /** An item of POST /api/conversions/batch (its source is still `api`). */
  batch?: boolean;
}

/** The one path every conversion takes, whichever door it came in by. */
@Injectable()
export class ConversionsService {
  constructor(
    private readonly repo: ConversionsRepository,
    private readonly clicks: ClicksService,
    private readonly dedup: DedupService,
    private readonly partners: PartnersService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'attributionWindowMs'>,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() private readonly attempts?: AttemptsRecorder,
  ) {}

  async record(ctx: RecordContext, cmd: ConversionCommand): Promise<ConversionResultDto> {
    if (cmd.tag_id !== null && !(await this.partners.isPartnerTag(ctx.partnerId, cmd.tag_id))) {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body', 'tag_id'],
          msg: 'Value error, not one of your tags',
          input: cmd.tag_id,
          ctx: { error: 'not one of your tags' },
        },
      ]);
    }
    const key = this.dedup.resolveKey({
      idempotencyKey: ctx.idempotencyKey,
      eventId: cmd.event_id,
      orderId: cmd.order_id,
    });
    const now = this.clock.now();
    const settings = await this.partners.attributionOf(ctx.partnerId);
    const windowMs = windowMsOf(settings.attribution_window_days, this.config.attributionWindowMs);
    const timing = attributionTiming(cmd.conversion_time, now, { windowMs, policy: settings.attribution_policy });
    const row: NewConversion = {
      id: randomUUID(),
      partner_id: ctx.partnerId,
      tag_id: cmd.tag_id,
      click_id: cmd.click_id,
      source: ctx.source,
      event_type: cmd.event_type,
      conversion_time: cmd.conversion_time,
      conversion_value: cmd.conversion_value,
      currency: cmd.currency,
      order_id: cmd.order_id,
      event_id: cmd.event_id,
      dedup_key: key?.value ?? null,
      dedup_layer: key?.layer ?? null,
      page_url: cmd.page_url,
      referrer: cmd.referrer,
      user_agent: cmd.user_agent,
      session_id: cmd.session_id,
      client_id: cmd.client_id,
      params: { extra: cmd.extra },
      created_at: now,
      mode: ctx.mode,
    };
    // Validate-only reads what the write would decide (the same click, held-claim and attribution-time
    // rules, in the same repository) and writes nothing; everything else here is the same path.
    const outcome = ctx.validateOnly
      ? await this.repo.recordReadOnly(row, this.dedup.windowStart(now), timing)
      : await this.repo.recordAtomically(row, this.dedup.windowStart(now), timing);
    this.clicks.assertAttributable(outcome.click, ctx.partnerId, ctx.mode);
    // Test data is never counted in the live metrics.
    const metrics = ctx.mode === 'live' ? this.metrics : undefined;
    // After the click and bid checks: the attribution-time verdict the statement computed.
    const verdict = outcome.attribution_status ?? 'ok';
    const clickedAt = outcome.click.clicked_at ?? cmd.conversion_time;
    const refused = isRefusedByPolicy(verdict, timing.policy);
    if (!ctx.validateOnly) metrics?.attribution(verdict, refused ? 'rejected' : 'recorded');
    if (verdict !== 'ok' && refused)
      throw AppError.validation([attributionRejection(verdict, clickedAt, cmd.conversion_time, windowMs)]);
    const warnings = verdict === 'ok' ? undefined : { warnings: [attributionWarning(verdict, clickedAt)] };
    if (ctx.validateOnly) {
      // `ok` names no conversion: nothing was written.
      if (key && outcome.claimed_id)
        return {
          status: 'duplicate',
          conversion_id: outcome.claimed_id,
          matched_on: key.layer,
          ...warnings,
          validate_only: true,
        };
      return { status: 'ok', ...warnings, validate_only: true };
    }
    if (outcome.inserted_id) return { status: 'ok', conversion_id: outcome.inserted_id, ...warnings };
    if (key && outcome.claimed_id) {
      const result: ConversionResultDto = {
        status: 'duplicate',
        conversion_id: outcome.claimed_id,
        matched_on: key.layer,
        ...warnings,
      };
      // Kept in the background (issue 14: the daily summary counts duplicates); validate-only never
      // gets here (a dry run answers what would happen and keeps nothing).
      this.attempts?.duplicate({
        partnerId: ctx.partnerId,
        keyId: ctx.keyId ?? null,
        source: ctx.source === 'tag' ? 'tag' : ctx.batch ? 'batch' : 'api',
        clickId: cmd.click_id,
        orderId: cmd.order_id,
        eventId: cmd.event_id,
        eventType: cmd.event_type,
        matchedOn: key.layer,
        matchedConversionId: outcome.claimed_id,
        requestId: ctx.requestId,
        mode: ctx.mode,
      });
      if (outcome.superseded) {
        result.superseded = 'tag';
        metrics?.conversionSuperseded('tag');
      } else {
        const fields = payloadMismatch(row, outcome);
        if (fields.length > 0) {
          result.payload_mismatch = fields;
          metrics?.payloadMismatch(fields);
        }
      }
      return result;
    }
    // Nothing was written and no claim could be named: the statement lost a race with a concurrent
    // first claim more times than the repository retries. The client's retry is safe: a 503, not a 500.
    throw new AppError('unavailable');
  }
}

/**
 * The money fields in which a duplicate differs from the conversion it matched. None when the
 * matched row is not known, or when it is a Tag row that a concurrent server conversion superseded
 * meanwhile (its values are then the other server conversion's, not the ones read).
 */
function payloadMismatch(row: NewConversion, o: RecordOutcome): PayloadField[] {
  const m = o.matched;
  if (!m || (m.source === 'tag' && row.source === 'api')) return [];
  const fields: PayloadField[] = [];
  if (m.conversion_value !== row.conversion_value) fields.push('conversion_value');
  if (m.currency !== row.currency) fields.push('currency');
  if (m.conversion_time.getTime() !== row.conversion_time.getTime()) fields.push('conversion_time');
  if (o.tag_id != null && m.tag_id !== o.tag_id) fields.push('tag_id');
  return fields;
}
