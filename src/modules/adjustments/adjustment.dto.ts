import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DateTime, Money, OneOf, Optional, Required, Str } from '../../common/validation';
import { ADJUSTMENT_TYPES } from './conversion-adjustment.entity';

/** At most this many adjustments in one request. */
export const ADJUSTMENTS_MAX_ITEMS = 1000;

const ID = { max: 255, min: 1 };
const CONVERSION_ID = '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40';
const ADJUSTMENT_ROW_ID = '7a4e2c1b-9d3f-4e8a-b5c6-1f2e3d4c5b6a';

/**
 * One adjustment: which conversion (by `conversion_id`, or by `order_id` and `event_type` within
 * the caller's partner), what happened (`type`, with `adjusted_value` or `refund_value`) and when.
 */
export class AdjustmentItemDto {
  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiPropertyOptional({
    description: 'The conversion, as `conversion_id` answered it. Send this or `order_id`.',
    example: CONVERSION_ID,
  })
  conversion_id?: string | null;

  @Optional()
  @Str(ID)
  @ApiPropertyOptional({
    description: "The conversion's order_id, among the caller's own conversions (with `event_type`).",
    example: 'order_123',
  })
  order_id?: string | null;

  @Optional()
  @Str(ID)
  @ApiPropertyOptional({
    description: 'With `order_id`: the conversion\'s event type. Defaults to "purchase_completed".',
    example: 'purchase_completed',
    default: 'purchase_completed',
  })
  event_type?: string | null;

  @Required()
  @OneOf(ADJUSTMENT_TYPES)
  @ApiProperty({
    description:
      '`retract`: the conversion no longer counts. `restate`: `adjusted_value` is the new total. `refund`: ' +
      '`refund_value` comes off the current total (partial refunds add up).',
    example: 'refund',
  })
  type: (typeof ADJUSTMENT_TYPES)[number];

  @Optional()
  @Money()
  @ApiPropertyOptional({
    description: '`restate` only, and required there: the new total, 0 or more (exact decimal, 6 places).',
    example: 80,
  })
  adjusted_value?: number | string | null;

  @Optional()
  @Money()
  @ApiPropertyOptional({
    description: '`refund` only, and required there: the amount off the current total, more than 0.',
    example: '19.99',
  })
  refund_value?: number | string | null;

  @Required()
  @DateTime()
  @ApiProperty({
    description:
      'When it happened at the advertiser (ISO-8601, UTC when no offset). Not before the conversion_time. ' +
      'Decides the order adjustments apply in.',
    example: '2026-05-28T09:00:00Z',
  })
  adjusted_at: string;

  @Optional()
  @Str(ID)
  @ApiPropertyOptional({
    description:
      'Your own id of the adjustment: a retry with the same id (per partner) is a duplicate. Without it, the ' +
      'same conversion, type, adjusted_at and value are.',
    example: 'refund_881',
  })
  adjustment_id?: string | null;
}

export class AdjustmentBatchBodyDto {
  @ApiProperty({
    description: `1 to ${ADJUSTMENTS_MAX_ITEMS} adjustments, answered one by one, in order.`,
    type: [AdjustmentItemDto],
    minItems: 1,
    maxItems: ADJUSTMENTS_MAX_ITEMS,
    example: [
      {
        order_id: 'order_123',
        type: 'refund',
        refund_value: '19.99',
        adjusted_at: '2026-05-28T09:00:00Z',
        adjustment_id: 'refund_881',
      },
      { conversion_id: CONVERSION_ID, type: 'restate', adjusted_value: 80, adjusted_at: '2026-05-29T10:00:00Z' },
      { conversion_id: CONVERSION_ID, type: 'retract', adjusted_at: '2026-05-30T08:00:00Z' },
    ],
  })
  adjustments: AdjustmentItemDto[];
}

/** One recorded adjustment, as the answer and the conversion's history show it. */
export class AdjustmentViewDto {
  @ApiProperty({ description: "The service's id of the recorded adjustment.", example: ADJUSTMENT_ROW_ID })
  id: string;

  @ApiProperty({ enum: ADJUSTMENT_TYPES, example: 'refund' })
  type: string;

  @ApiProperty({
    description: 'restate: the new total; refund: the amount off; retract: null. Exact decimal, as a string.',
    example: '19.99',
    nullable: true,
    type: String,
  })
  value: string | null;

  @ApiProperty({ example: '2026-05-28T09:00:00.000Z', format: 'date-time' })
  adjusted_at: string;

  @ApiProperty({ example: 'refund_881', nullable: true, type: String })
  adjustment_id: string | null;

  @ApiProperty({
    description:
      '`applied`, or `more_recent_adjustment`: a restatement dated after it already decides the total (recorded, total unchanged).',
    enum: ['applied', 'more_recent_adjustment'],
    example: 'applied',
  })
  outcome: string;

  @ApiProperty({ description: "The conversion's net value before it.", example: '99.99' })
  value_before: string;

  @ApiProperty({ description: "The conversion's net value after it.", example: '80' })
  value_after: string;

  @ApiProperty({ enum: ['active', 'retracted'], example: 'active' })
  status_after: string;

  @ApiProperty({
    description: 'When the service recorded it.',
    example: '2026-05-28T09:00:01.250Z',
    format: 'date-time',
  })
  recorded_at: string;
}

/** A conversion's net state after adjustments. */
export class ConversionNetStateDto {
  @ApiProperty({ example: CONVERSION_ID })
  id: string;

  @ApiProperty({ description: 'The value as sent, unchanged by adjustments.', example: '99.99' })
  conversion_value: string;

  @ApiProperty({ description: 'The net value now (0 once retracted). Exact decimal.', example: '80.01' })
  current_value: string;

  @ApiProperty({ enum: ['active', 'retracted'], example: 'active' })
  status: string;

  @ApiProperty({
    description: 'The adjusted_at of the latest adjustment applied; null when never adjusted.',
    example: '2026-05-28T09:00:00.000Z',
    nullable: true,
    type: String,
  })
  adjusted_at: string | null;
}

export class AdjustmentWarningDto {
  @ApiProperty({ enum: ['more_recent_adjustment'], example: 'more_recent_adjustment' })
  code: 'more_recent_adjustment';

  @ApiProperty({
    example: 'A more recent restatement already decides the total: recorded in the history, the total is unchanged',
  })
  msg: string;
}

export class AdjustmentErrorDto {
  @ApiProperty({ description: 'The HTTP status this item alone would have had: 404, 409, 422 or 503.', example: 409 })
  status: number;

  @ApiProperty({
    description:
      'The error code: conversion_not_found, already_retracted, adjustment_precedes_conversion, refund_exceeds_value, ' +
      'order_id_ambiguous, validation, unavailable.',
    example: 'refund_exceeds_value',
  })
  code: string;

  @ApiProperty({
    description: 'A text, or for a 422 the Pydantic list, whose `loc` starts with `["body","adjustments",index]`.',
    oneOf: [
      { type: 'string', example: 'The conversion is already retracted' },
      {
        type: 'array',
        items: { type: 'object', additionalProperties: true },
        example: [
          { type: 'missing', loc: ['body', 'adjustments', 0, 'adjusted_at'], msg: 'Field required', input: {} },
        ],
      },
    ],
  })
  detail: string | object[];
}

export class AdjustmentResultDto {
  @ApiProperty({ description: "The item's position in `adjustments` (0-based).", example: 0 })
  index: number;

  @ApiProperty({
    description:
      '`ok`: recorded (see `adjustment.outcome` and `warnings`); `duplicate`: recorded before, nothing changed; `rejected`: see `error`.',
    enum: ['ok', 'duplicate', 'rejected'],
    example: 'ok',
  })
  status: 'ok' | 'duplicate' | 'rejected';

  @ApiPropertyOptional({ description: 'Accepted items: the conversion adjusted.', example: CONVERSION_ID })
  conversion_id?: string;

  @ApiPropertyOptional({
    description: 'Duplicates only: `adjustment_id`, or `content` (same conversion, type, adjusted_at and value).',
    enum: ['adjustment_id', 'content'],
  })
  matched_on?: 'adjustment_id' | 'content';

  @ApiPropertyOptional({
    description: 'Accepted items: the adjustment recorded (for a duplicate, the one it matched).',
    type: () => AdjustmentViewDto,
  })
  adjustment?: AdjustmentViewDto;

  @ApiPropertyOptional({
    description: "Accepted items: the conversion's net state now.",
    type: () => ConversionNetStateDto,
  })
  conversion?: ConversionNetStateDto;

  @ApiPropertyOptional({
    description: 'Recorded, but the total is unchanged: `more_recent_adjustment`.',
    type: () => [AdjustmentWarningDto],
  })
  warnings?: AdjustmentWarningDto[];

  @ApiPropertyOptional({ description: 'Rejected items only.', type: () => AdjustmentErrorDto })
  error?: AdjustmentErrorDto;
}

export class AdjustmentCountsDto {
  @ApiProperty({ example: 1 }) ok: number;
  @ApiProperty({ example: 1 }) duplicate: number;
  @ApiProperty({ example: 1 }) rejected: number;
}

export class AdjustmentBatchResponseDto {
  @ApiProperty({ description: 'Exactly one result per item, in request order.', type: [AdjustmentResultDto] })
  results: AdjustmentResultDto[];

  @ApiProperty({ type: () => AdjustmentCountsDto })
  counts: AdjustmentCountsDto;
}

export const EXAMPLE_IDS = { CONVERSION_ID, ADJUSTMENT_ROW_ID };
