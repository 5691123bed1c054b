import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { parseCurrency, parseDateTime, parseNumberLike, toDecimalString } from '../../common/parsers';
import { ClicksService } from '../clicks/clicks.service';
import { DedupService } from '../dedup/dedup.service';
import { PartnersService } from '../partners/partners.service';
import type { ConversionSource } from './conversion.entity';
import { CONVERSION_FIELDS, ConversionBodyDto, ConversionResultDto } from './conversion.dto';
import { ConversionsRepository, NewConversion } from './conversions.repository';

export const DEFAULT_EVENT_TYPE = 'purchase_completed';

/** Where a conversion came from and on whose behalf. */
export interface RecordContext {
  partnerId: string;
  source: ConversionSource;
  idempotencyKey?: string | null;
}

/** Body keys that belong to the transport of another path (the Tag's signature), never stored. */
const TRANSPORT_FIELDS = new Set(['sig', 'exp']);

/** The one path every conversion takes, whichever door it came in by. */
@Injectable()
export class ConversionsService {
  constructor(
    private readonly repo: ConversionsRepository,
    private readonly clicks: ClicksService,
    private readonly dedup: DedupService,
    private readonly partners: PartnersService,
    private readonly clock: Clock,
  ) {}

  async record(
    ctx: RecordContext,
    body: ConversionBodyDto,
    transportFields = TRANSPORT_FIELDS,
  ): Promise<ConversionResultDto> {
    const tagId = body.tag_id ?? null;
    if (tagId !== null && !(await this.partners.isPartnerTag(ctx.partnerId, tagId))) {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body', 'tag_id'],
          msg: 'Value error, not one of your tags',
          input: tagId,
          ctx: { error: 'not one of your tags' },
        },
      ]);
    }
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(body)) {
      if (!CONVERSION_FIELDS.has(k) && !transportFields.has(k)) extra[k] = v;
    }
    const eventType = body.event_type ?? DEFAULT_EVENT_TYPE;
    const orderId = body.order_id ?? null;
    const eventId = body.event_id ?? null;
    const key = this.dedup.resolveKey({ idempotencyKey: ctx.idempotencyKey, eventId, orderId });
    const now = this.clock.now();
    const row: NewConversion = {
      id: randomUUID(),
      partner_id: ctx.partnerId,
      tag_id: tagId,
      click_id: body.click_id,
      source: ctx.source,
      event_type: eventType,
      conversion_time: (parseDateTime(body.conversion_time) as { date: Date }).date,
      conversion_value: toDecimalString(parseNumberLike(body.conversion_value)!),
      currency: parseCurrency(body.currency)!,
      order_id: orderId,
      event_id: eventId,
      dedup_key: key?.value ?? null,
      dedup_layer: key?.layer ?? null,
      page_url: body.page_url ?? null,
      referrer: body.referrer ?? null,
      user_agent: body.user_agent ?? null,
      session_id: body.session_id ?? null,
      client_id: body.client_id ?? null,
      params: { extra },
      created_at: now,
    };
    const outcome = await this.repo.recordAtomically(row, this.dedup.windowStart(now));
    this.clicks.assertAttributable(outcome.click, ctx.partnerId);
    if (outcome.inserted_id) return { status: 'ok', conversion_id: outcome.inserted_id };
    if (key && outcome.claimed_id)
      return { status: 'duplicate', conversion_id: outcome.claimed_id, matched_on: key.layer };
    // Nothing was written and no claim could be named: the statement lost a race with a concurrent
    // first claim more times than the repository retries. The client's retry is safe: a 503, not a 500.
    throw new AppError('unavailable');
  }
}
