import { DATA_MODES, DataMode } from '../../common/data-mode';
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { DateTime, OneOf, Optional, Str } from '../../common/validation';
import { IntQuery } from '../../common/query';
import { AdjustmentViewDto } from '../adjustments/adjustment.dto';
import { ClickView } from '../clicks/click.dto';
import { ATTRIBUTION_STATUSES } from './attribution-time';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
export const SOURCES = ['api', 'tag'] as const;
export const CONVERSION_STATUSES = ['active', 'retracted'] as const;

/** Filters every conversion listing shares (the partner's own listing has no partner_id). */
export class OwnConversionFiltersDto {
  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: 'Only conversions attributed to this tag.',
    example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00',
  })
  tag_id?: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({ description: 'Only conversions on this click.', example: 'clk_xyz' })
  click_id?: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'Only conversions with this order_id (exact match).',
    example: 'order_8812',
  })
  order_id?: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'Only conversions of this event type (exact match).',
    example: 'purchase_completed',
  })
  event_type?: string;

  @Optional()
  @OneOf(SOURCES)
  @ApiProperty({
    description: 'Only conversions that came in this way: `api` (partner backend) or `tag` (browser Tag).',
    example: 'api',
  })
  source?: (typeof SOURCES)[number];

  @Optional()
  @OneOf(ATTRIBUTION_STATUSES)
  @ApiProperty({
    description:
      'Only conversions with this attribution-time verdict: `ok`, `precedes_click`, `outside_window` or `future` (rows recorded before the checks existed have none and match no value).',
    example: 'precedes_click',
  })
  attribution_status?: (typeof ATTRIBUTION_STATUSES)[number];

  @Optional()
  @OneOf(DATA_MODES)
  @ApiProperty({
    description:
      "Live data (the default) or the sandbox's test data (`test`: conversions posted with a test key). Never both. " +
      "On a partner's own listing it must be the calling key's mode (a live key never reads test data, a test key " +
      "never reads live data); there it defaults to the key's mode.",
    enum: DATA_MODES,
    default: 'live',
    example: 'live',
  })
  mode?: DataMode;

  @Optional()
  @OneOf(CONVERSION_STATUSES)
  @ApiProperty({
    description: 'Only conversions in this state: `active`, or `retracted` by an adjustment (issue 13).',
    example: 'retracted',
  })
  status?: (typeof CONVERSION_STATUSES)[number];

  @Optional()
  @DateTime()
  @ApiProperty({
    description:
      'Only conversions with conversion_time at or after this instant (ISO-8601; UTC when no offset). Inclusive.',
    example: '2026-05-26T00:00:00Z',
  })
  from?: string;

  @Optional()
  @DateTime()
  @ApiProperty({
    description:
      'Only conversions with conversion_time strictly before this instant (ISO-8601; UTC when no offset). Exclusive.',
    example: '2026-05-27T00:00:00Z',
  })
  to?: string;
}

export class ConversionFiltersDto extends OwnConversionFiltersDto {
  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: 'Only conversions of this partner.',
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  partner_id?: string;
}

/** The page size of a listing (both listings share it). */
function PageLimit(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      description: `Page size, 1 to ${MAX_PAGE_SIZE}.`,
      example: DEFAULT_PAGE_SIZE,
      default: DEFAULT_PAGE_SIZE,
    }),
    Optional(),
    IntQuery({ min: 1, max: MAX_PAGE_SIZE }),
  );
}

/** The keyset cursor of a listing (both listings share it). */
function PageCursor(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({
      description: 'Opaque: the `next_cursor` of the previous page, unchanged. Absent for the first page.',
      example: 'MjAyNi0wNS0yNlQxMjozNDo1Ni4wMDBafDNkMGY2YThlLTJiMWMtNGY1ZC05ZTdhLTZjOGIxZDJlM2Y0MA',
    }),
    Optional(),
    Str({ max: 200, min: 1 }),
  );
}

export class ListConversionsQueryDto extends ConversionFiltersDto {
  @PageLimit()
  limit?: string;

  @PageCursor()
  cursor?: string;
}

export class ListOwnConversionsQueryDto extends OwnConversionFiltersDto {
  @PageLimit()
  limit?: string;

  @PageCursor()
  cursor?: string;
}

export class ConversionItemDto {
  @ApiProperty({ example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' }) id: string;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
  @ApiProperty({ example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' }) tag_id: string;
  @ApiProperty({ example: 'clk_xyz' }) click_id: string;
  @ApiProperty({ description: 'The bid the conversion was attributed to.', example: 'bid_42' }) bid_id: string;
  @ApiProperty({ enum: SOURCES, example: 'api' }) source: string;
  @ApiProperty({ example: 'purchase_completed' }) event_type: string;
  @ApiProperty({ example: '2026-05-26T12:34:56.000Z', format: 'date-time' }) conversion_time: string;
  @ApiProperty({ description: 'Exact decimal, as a string.', example: '99.99' }) conversion_value: string;
  @ApiProperty({ example: 'USD' }) currency: string;
  @ApiProperty({ example: 'order_123', nullable: true, type: String }) order_id: string | null;
  @ApiProperty({ example: 'evt_9f2c', nullable: true, type: String }) event_id: string | null;
  @ApiProperty({
    description: 'The dedup key the conversion was recorded under.',
    example: 'order_123',
    nullable: true,
    type: String,
  })
  dedup_key: string | null;
  @ApiProperty({
    description: 'Which layer the dedup key came from.',
    enum: ['idempotency_key', 'event_id', 'order_id'],
    nullable: true,
    example: 'idempotency_key',
  })
  dedup_layer: string | null;
  @ApiProperty({ example: 'https://shop.example.com/checkout/done', nullable: true, type: String }) page_url:
    string | null;
  @ApiProperty({ example: 'https://shop.example.com/cart', nullable: true, type: String }) referrer: string | null;
  @ApiProperty({ example: 'Mozilla/5.0 (X11; Linux x86_64)', nullable: true, type: String }) user_agent: string | null;
  @ApiProperty({ example: 'sess_123', nullable: true, type: String }) session_id: string | null;
  @ApiProperty({ example: 'cli_456', nullable: true, type: String }) client_id: string | null;
  @ApiProperty({
    description: 'When the service recorded it.',
    example: '2026-05-26T12:34:57.120Z',
    format: 'date-time',
  })
  created_at: string;
  @ApiProperty({
    description:
      'The attribution-time verdict: `ok`, `precedes_click`, `outside_window` or `future`; null for rows recorded before the checks existed.',
    enum: ['ok', 'precedes_click', 'outside_window', 'future'],
    nullable: true,
    example: 'ok',
  })
  attribution_status: string | null;
  @ApiProperty({
    description: '`live`, or `test` for a conversion posted with a test (sandbox) key.',
    enum: DATA_MODES,
    example: 'live',
  })
  mode: DataMode;
  @ApiProperty({
    description:
      'The net value after adjustments (0 once retracted; conversion_value when never adjusted). Exact decimal.',
    example: '80',
  })
  current_value: string;
  @ApiProperty({
    description: '`active`, or `retracted` (it no longer counts).',
    enum: CONVERSION_STATUSES,
    example: 'active',
  })
  status: string;
  @ApiProperty({
    description: 'The adjusted_at of the latest adjustment applied; null when never adjusted.',
    example: '2026-05-28T09:00:00.000Z',
    nullable: true,
    type: String,
    format: 'date-time',
  })
  adjusted_at: string | null;
  @ApiProperty({ description: 'How many adjustments are recorded (the history is in the single view).', example: 1 })
  adjustment_count: number;
}

export class ConversionPageDto {
  @ApiProperty({
    type: [ConversionItemDto],
    description: 'Newest conversion_time first (ties broken by id, descending).',
  })
  items: ConversionItemDto[];

  @ApiProperty({
    description: 'Pass as `cursor` for the next page; null on the last page.',
    nullable: true,
    type: String,
    example: 'MjAyNi0wNS0yNlQxMjozNDo1Ni4wMDBafDNkMGY2YThl',
  })
  next_cursor: string | null;
}

export class ConversionParamsDto {
  @ApiProperty({
    description: 'Every unknown body key, exactly as sent.',
    example: { coupon: 'SPRING', items: 3 },
    type: 'object',
    additionalProperties: true,
  })
  extra: Record<string, unknown>;
}

export class ConversionDetailDto extends ConversionItemDto {
  @ApiProperty({ type: ConversionParamsDto }) params: ConversionParamsDto;
  @ApiProperty({ type: ClickView, nullable: true, description: 'The click the conversion was attributed to.' })
  click: ClickView | null;
  @ApiProperty({
    type: [AdjustmentViewDto],
    description: 'Every adjustment recorded, oldest first (POST /api/conversion/adjustments).',
  })
  adjustments: AdjustmentViewDto[];
}

export class ClickWithConversionsDto extends ClickView {
  @ApiProperty({ type: [ConversionItemDto], description: 'Every conversion on the click, newest first.' })
  conversions: ConversionItemDto[];
}
