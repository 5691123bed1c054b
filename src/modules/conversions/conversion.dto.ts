import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { Currency, DateTime, declaredFields, Money, Optional, Required, Str } from '../../common/validation';

const ID = { max: 255, min: 1 };

/**
 * The body of POST /api/conversion, as the seed defines it. Any other key is accepted and stored
 * under params.extra exactly as sent.
 */
export class ConversionBodyDto {
  @Required()
  @Str(ID)
  @ApiProperty({
    description: 'The click ID captured by the Tag on the original landing URL.',
    example: 'clk_xyz',
  })
  click_id: string;

  @Required()
  @DateTime()
  @ApiProperty({
    description: 'When the conversion happened: ISO-8601 (UTC when no offset is given; stored and returned in UTC).',
    example: '2026-05-26T12:34:56Z',
  })
  conversion_time: string;

  @Required()
  @Money()
  @ApiProperty({
    description:
      'Monetary value of the conversion: a finite number (numeric strings are accepted), stored exactly to 6 decimals.',
    example: 99.99,
  })
  conversion_value: number | string;

  @Required()
  @Currency()
  @ApiProperty({
    description: '3-letter ISO 4217 code (USD, EUR, …), case-insensitive; stored upper-case.',
    example: 'USD',
  })
  currency: string;

  @Optional()
  @Str(ID)
  @ApiProperty({
    description:
      'Defaults to "purchase_completed". Use other names for non-purchase conversions (subscription_created, trial_started, lead_created, …).',
    example: 'purchase_completed',
    default: 'purchase_completed',
  })
  event_type?: string | null;

  @Optional()
  @Str(ID)
  @ApiProperty({
    description: 'Recommended. Used for deduplication when no Idempotency-Key or event_id is sent.',
    example: 'order_123',
  })
  order_id?: string | null;

  @Optional()
  @Str(ID)
  @ApiProperty({
    description: 'Explicit dedup key. The Idempotency-Key header takes precedence if both are sent.',
    example: 'evt_9f2c',
  })
  event_id?: string | null;

  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: "Override if you operate multiple tags under one partner key; must be one of the caller's tags.",
    example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00',
  })
  tag_id?: string | null;

  @Optional()
  @Str({ max: 2048 })
  @ApiProperty({
    description: 'Browser context, when known.',
    example: 'https://shop.example.com/checkout/done',
  })
  page_url?: string | null;

  @Optional()
  @Str({ max: 2048 })
  @ApiProperty({
    description: 'Browser context, when known.',
    example: 'https://shop.example.com/cart',
  })
  referrer?: string | null;

  @Optional()
  @Str({ max: 1024 })
  @ApiProperty({
    description: 'Browser context, when known.',
    example: 'Mozilla/5.0 (X11; Linux x86_64)',
  })
  user_agent?: string | null;

  @Optional()
  @Str({ max: 255 })
  @ApiProperty({ description: 'Your stable user identifier.', example: 'sess_123' })
  session_id?: string | null;

  @Optional()
  @Str({ max: 255 })
  @ApiProperty({ description: 'Your stable user identifier.', example: 'cli_456' })
  client_id?: string | null;

  /** Unknown keys; not a declared field. */
  [extra: string]: unknown;
}

/** Every field the seed names; the rest of a body is params.extra. */
export const CONVERSION_FIELDS = declaredFields(ConversionBodyDto);

/** The money fields a retry is compared on (see ConversionResultDto.payload_mismatch). */
export const PAYLOAD_FIELDS = ['conversion_value', 'currency', 'conversion_time', 'tag_id'] as const;
export type PayloadField = (typeof PAYLOAD_FIELDS)[number];

export const SUPERSEDED_DOC: ApiPropertyOptions = {
  description:
    'Extension, duplicates only: this server conversion matched a claim held by a Tag conversion and replaced its ' +
    'values (the replaced ones are kept in the row\'s params.superseded; source becomes "api").',
  enum: ['tag'],
  example: 'tag',
};

export const PAYLOAD_MISMATCH_DOC: ApiPropertyOptions = {
  description:
    'Extension, duplicates only: the money fields in which this request differs from the conversion it matched ' +
    '(a reused dedup key with another payload). Nothing was written.',
  isArray: true,
  enum: [...PAYLOAD_FIELDS],
  example: ['conversion_value'],
};

export class AttributionWarningDto {
  @ApiProperty({ enum: ['precedes_click', 'outside_window', 'future'], example: 'precedes_click' })
  code: 'precedes_click' | 'outside_window' | 'future';

  @ApiProperty({ example: 'conversion_time is more than 5 minutes before the click' })
  msg: string;

  @ApiProperty({ description: "The click's time (UTC).", example: '2026-05-26T12:40:00.000Z' })
  clicked_at: string;
}

export class ConversionResultDto {
  @ApiProperty({ enum: ['ok', 'duplicate'], example: 'ok' })
  status: 'ok' | 'duplicate';

  @ApiPropertyOptional({
    description: 'Extension: the id of the conversion written, or for a duplicate the one it matched.',
    example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
  })
  conversion_id?: string;

  @ApiPropertyOptional({
    description: 'Extension, duplicates only: which dedup layer of this request matched.',
    enum: ['idempotency_key', 'event_id', 'order_id'],
  })
  matched_on?: 'idempotency_key' | 'event_id' | 'order_id';

  @ApiPropertyOptional(SUPERSEDED_DOC)
  superseded?: 'tag';

  @ApiPropertyOptional(PAYLOAD_MISMATCH_DOC)
  payload_mismatch?: PayloadField[];

  @ApiPropertyOptional({
    description:
      "Extension: the attribution-time checks this conversion failed (the partner's policy is `flag`: it was recorded with this verdict).",
    type: () => [AttributionWarningDto],
  })
  warnings?: AttributionWarningDto[];

  @ApiPropertyOptional({
    description:
      'Extension, `?validate_only=true` only: every check ran and nothing was written. An `ok` then carries no ' +
      '`conversion_id`; a `duplicate` names the conversion already holding the dedup key.',
    enum: [true],
    example: true,
  })
  validate_only?: true;
}
