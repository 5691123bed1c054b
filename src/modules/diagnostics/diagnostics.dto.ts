import { AdjustmentViewDto } from '../adjustments/adjustment.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IntQuery } from '../../common/query';
import { Optional, Str } from '../../common/validation';

export const VERDICTS = ['ok', 'problem', 'warning', 'info'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** GET /admin/explain: `click_id`, or `order_id` with `partner_id`. */
export class ExplainQueryDto {
  @ApiPropertyOptional({ description: 'The click to explain, exactly as the advertiser sent it.', example: 'clk_xyz' })
  @Optional()
  @Str({ max: 255, min: 1 })
  click_id?: string;

  @ApiPropertyOptional({ description: 'An order id (with partner_id), exactly as sent.', example: 'order_8812' })
  @Optional()
  @Str({ max: 255, min: 1 })
  order_id?: string;

  @ApiPropertyOptional({
    description: 'The partner that sent the order (with order_id).',
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  @Optional()
  @Str({ max: 36, min: 1 })
  partner_id?: string;
}

export class SummaryQueryDto {
  @ApiPropertyOptional({ description: 'How many UTC days, today included (1 to 90).', example: 14, default: 14 })
  @Optional()
  @IntQuery({ min: 1, max: 90 })
  days?: string;
}

export class ExplainCheckDto {
  @ApiProperty({ description: 'What was checked.', example: 'click_registered' })
  check: string;

  @ApiProperty({ description: 'The verdict.', enum: VERDICTS, example: 'problem' })
  verdict: Verdict;

  @ApiProperty({
    description: 'In words a support agent can read back to the advertiser.',
    example:
      'No click with this id was ever registered; the id sent was `clk_xyz ` with a trailing space, and a click `clk_xyz` exists.',
  })
  message: string;
}

export class ExplainClickDto {
  @ApiProperty({ description: 'Whether a click with this exact id is registered.', example: true })
  found: boolean;

  @ApiProperty({ example: 'clk_xyz' }) click_id: string;
  @ApiProperty({ nullable: true, type: String, example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' }) tag_id: string | null;
  @ApiProperty({
    description: "The tag's partner (whose click it is).",
    nullable: true,
    type: String,
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  partner_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'bid_42' }) bid_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: '2026-05-26T12:00:00.000Z' }) clicked_at: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'https://shop.example.com/p/1' }) landing_url: string | null;

  @ApiProperty({
    description: "When the click's signature (for the Tag) stops being valid: clicked_at + CLICK_TTL.",
    nullable: true,
    type: String,
    example: '2026-06-25T12:00:00.000Z',
  })
  signature_valid_until: string | null;

  @ApiProperty({ description: 'Whether a signature for this click would be valid now.', example: true })
  signature_valid_now: boolean;
}

export class ExplainConversionDto {
  @ApiProperty({ example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' }) id: string;
  @ApiProperty({ example: 'api', description: '`api` (partner backend) or `tag` (browser Tag).' }) source: string;
  @ApiProperty({ example: 'purchase_completed' }) event_type: string;
  @ApiProperty({ example: '99.99', description: 'Exact decimal, as a string.' }) conversion_value: string;
  @ApiProperty({ example: 'USD' }) currency: string;
  @ApiProperty({ example: '2026-05-26T12:34:56.000Z' }) conversion_time: string;
  @ApiProperty({ example: '2026-05-26T12:35:01.204Z', description: 'When it was stored.' }) created_at: string;
  @ApiProperty({ nullable: true, type: String, example: 'order_8812' }) order_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) event_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'order_8812' }) dedup_key: string | null;
  @ApiProperty({
    nullable: true,
    type: String,
    example: 'order_id',
    description: 'Where the dedup key came from: idempotency_key, event_id or order_id.',
  })
  dedup_layer: string | null;
  @ApiProperty({ example: '80', description: 'The net value after adjustments (0 once retracted). Exact decimal.' })
  current_value: string;
  @ApiProperty({ enum: ['active', 'retracted'], example: 'active' }) status: string;
  @ApiProperty({
    nullable: true,
    type: String,
    example: '2026-05-28T09:00:00.000Z',
    description: 'The adjusted_at of the latest adjustment applied; null when never adjusted.',
  })
  adjusted_at: string | null;
  @ApiProperty({ type: [AdjustmentViewDto], description: 'Its adjustments, oldest recorded first.' })
  adjustments: AdjustmentViewDto[];
}

export class ExplainClaimDto {
  @ApiProperty({ example: 'order_8812' }) dedup_key: string;
  @ApiProperty({ example: 'purchase_completed' }) event_type: string;
  @ApiProperty({ nullable: true, type: String, example: 'order_id', description: "The holder conversion's layer." })
  layer: string | null;
  @ApiProperty({ example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40', description: 'The conversion holding the key.' })
  holder_conversion_id: string;
  @ApiProperty({ example: '2026-05-26T12:35:01.204Z', description: 'When the key was (last) claimed.' })
  first_seen_at: string;
  @ApiProperty({ example: '2026-06-02T12:35:01.204Z', description: 'When the dedup window ends for this key.' })
  window_ends_at: string;
  @ApiProperty({ example: true, description: 'Whether a repeat of this key now would be answered `duplicate`.' })
  active: boolean;
}

export class ExplainAttemptDto {
  @ApiProperty({ example: '2026-05-26T12:30:00.000Z' }) at: string;
  @ApiProperty({ example: 'api', description: 'api, tag or batch.' }) source: string;
  @ApiProperty({ example: 404 }) status: number;
  @ApiProperty({ example: 'click_not_found' }) reason: string;
  @ApiProperty({ example: 'Click not found' }) reason_label: string;
  @ApiProperty({ example: 'send the click id the Tag captured on landing (thrad_click_id), exactly as received' })
  advice: string;
  @ApiProperty({ nullable: true, type: String, example: null, description: "A 422's first loc, dot-joined." })
  error_loc: string | null;
  @ApiProperty({ nullable: true, type: String, example: null, description: "A 422's first type." })
  error_type: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'clk_xyz' }) click_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'order_8812' }) order_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) event_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'purchase_completed' }) event_type: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'req-1a2b' }) request_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) key_id: string | null;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
}

export class ExplainSubjectDto {
  @ApiPropertyOptional({ example: 'clk_xyz' }) click_id?: string;
  @ApiPropertyOptional({ example: 'order_8812' }) order_id?: string;
  @ApiPropertyOptional({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id?: string;
}

export class ExplainWebhookDeliveryDto {
  @ApiProperty({ example: 'msg_2f1c0e9d8b7a49e6a5d4c3b2a1f0e9d8', description: 'The webhook-id header.' })
  message_id: string;
  @ApiProperty({ example: '5c1d8e2a-3b4f-4a6e-9d7c-8b2a1f0e3d4c' }) endpoint_id: string;
  @ApiProperty({ example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' }) conversion_id: string;
  @ApiProperty({ example: 'conversion.created' }) type: string;
  @ApiProperty({ example: 1 }) attempt: number;
  @ApiProperty({ example: '2026-05-26T12:34:57.300Z' }) attempted_at: string;
  @ApiProperty({ example: 200, nullable: true, type: Number }) status_code: number | null;
  @ApiProperty({ example: 42 }) latency_ms: number;
  @ApiProperty({ example: null, nullable: true, type: String }) error: string | null;
  @ApiProperty({ example: null, nullable: true, type: String }) next_attempt_at: string | null;
}

export class ExplainDuplicateDto {
  @ApiProperty({ example: '2026-05-26T12:40:00.000Z', description: 'When it was answered `duplicate`.' }) at: string;
  @ApiProperty({ enum: ['api', 'batch', 'tag'], example: 'api' }) source: string;
  @ApiProperty({
    example: 'event_id',
    nullable: true,
    type: String,
    description: 'The dedup layer that matched (idempotency_key, event_id, order_id).',
  })
  matched_on: string | null;
  @ApiProperty({
    example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
    nullable: true,
    type: String,
    description: 'The conversion it is a retry of.',
  })
  conversion_id: string | null;
  @ApiProperty({
    example:
      'A retry of conversion `3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40` (same event_id), answered `duplicate` on 2026-05-26T12:40:00.000Z: accepted, nothing new was stored.',
  })
  message: string;
  @ApiProperty({ example: 'clk_xyz', nullable: true, type: String }) click_id: string | null;
  @ApiProperty({ example: 'order_8812', nullable: true, type: String }) order_id: string | null;
  @ApiProperty({ example: 'evt_1', nullable: true, type: String }) event_id: string | null;
  @ApiProperty({ example: 'purchase', nullable: true, type: String }) event_type: string | null;
  @ApiProperty({ example: 'req-1', nullable: true, type: String }) request_id: string | null;
  @ApiProperty({ example: null, nullable: true, type: String }) key_id: string | null;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
}

export class ExplainDto {
  @ApiProperty({ type: ExplainSubjectDto, description: 'What was asked about.' })
  subject: ExplainSubjectDto;

  @ApiProperty({
    description: 'The story in one sentence.',
    example: 'The click exists and 1 conversion was stored on it; 2 attempts were refused (Click missing bid id).',
  })
  summary: string;

  @ApiProperty({ type: [ExplainCheckDto], description: 'Each check, in the order the conversion path makes them.' })
  checks: ExplainCheckDto[];

  @ApiProperty({
    type: ExplainClickDto,
    nullable: true,
    description: 'The click (for an order: the click of its latest conversion or attempt); null when none is known.',
  })
  click: ExplainClickDto | null;

  @ApiProperty({ type: [ExplainConversionDto] }) conversions: ExplainConversionDto[];
  @ApiProperty({ type: [ExplainClaimDto] }) dedup_claims: ExplainClaimDto[];
  @ApiProperty({ type: [ExplainAttemptDto], description: 'Refused attempts (kept ATTEMPTS_RETENTION), oldest first.' })
  refused_attempts: ExplainAttemptDto[];

  @ApiProperty({
    type: [ExplainDuplicateDto],
    description:
      'Retries answered `duplicate` (accepted, not refusals; kept ATTEMPTS_RETENTION), oldest first. Not kept for validate-only requests.',
  })
  duplicates: ExplainDuplicateDto[];

  @ApiProperty({
    type: [ExplainWebhookDeliveryDto],
    description: "Webhook delivery attempts for the click's conversions, oldest first.",
  })
  webhook_deliveries: ExplainWebhookDeliveryDto[];

  @ApiProperty({
    type: [String],
    description: 'Parts of the story this service does not keep yet.',
    example: ['Unauthenticated attempts (401) are counted in metrics only.'],
  })
  not_recorded: string[];
}

export class DailyOutcomeDto {
  @ApiProperty({ example: '2026-05-26', description: 'A UTC day.' }) date: string;
  @ApiProperty({ example: 120, description: 'Conversions stored that day.' }) ok: number;
  @ApiProperty({
    example: 4,
    description:
      'Retries answered `duplicate` that day (accepted: nothing new stored). Validate-only ones are not counted.',
  })
  duplicate: number;
  @ApiProperty({ example: 9, description: 'Refused attempts that day.' }) refused: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { click_not_found: 7, validation: 2 },
    description: 'Refused attempts by reason code.',
  })
  refused_by_reason: Record<string, number>;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { ok: 112, precedes_click: 6, outside_window: 2 },
    description:
      "The day's stored conversions (`ok`) by attribution verdict: `ok`, `precedes_click`, `outside_window`, " +
      '`future` (recorded with a warning under the `flag` policy; under `reject` they are refused, counted in ' +
      '`refused_by_reason` instead). Only verdicts that occurred are listed.',
  })
  attribution: Record<string, number>;
  @ApiProperty({
    nullable: true,
    type: Number,
    example: 0.9302,
    description:
      '(ok + duplicate) / (ok + duplicate + refused): a duplicate is an accepted retry, it never lowers the rate; null on a day with none.',
  })
  success_rate: number | null;
}

export class DiagnosticsAlertDto {
  @ApiProperty({ example: 'click_not_found' }) reason: string;
  @ApiProperty({ example: 0.38, description: 'Share of the last 24 h of attempts (stored + refused).' }) share: number;
  @ApiProperty({ example: 38 }) count: number;
  @ApiProperty({
    example:
      '38% of your conversions in the last 24 h were `Click not found`: send the click id the Tag captured on landing (thrad_click_id), exactly as received, from your own tag',
  })
  message: string;
  @ApiProperty({ example: 'send the click id the Tag captured on landing (thrad_click_id), exactly as received' })
  advice: string;
}

export class DiagnosticsSummaryDto {
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
  @ApiProperty({ example: 14 }) days: number;
  @ApiProperty({ type: [DailyOutcomeDto], description: 'One entry per UTC day, oldest first, today last.' })
  daily: DailyOutcomeDto[];
  @ApiProperty({ type: [DiagnosticsAlertDto], description: 'Reasons that dominate the last 24 h, with a fix.' })
  alerts: DiagnosticsAlertDto[];
  @ApiProperty({
    type: [String],
    example: ['success_rate is (ok + duplicate) / (ok + duplicate + refused): a duplicate is an accepted retry.'],
    description: 'What the figures do not include.',
  })
  notes: string[];
}
