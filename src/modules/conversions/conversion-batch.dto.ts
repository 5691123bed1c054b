import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  AttributionWarningDto,
  ConversionBodyDto,
  PAYLOAD_MISMATCH_DOC,
  PayloadField,
  SUPERSEDED_DOC,
} from './conversion.dto';

/** At most this many conversions in one batch. */
export const BATCH_MAX_ITEMS = 1000;

/** One conversion of a batch: exactly the body of POST /api/conversion, plus its own idempotency key. */
export class ConversionBatchItemDto extends ConversionBodyDto {
  @ApiPropertyOptional({
    description:
      "This item's Idempotency-Key (1 to 255 printable ASCII characters): plays the header's part for this item " +
      '(the header itself is refused on the batch route). Not stored under params.extra.',
    type: String,
    nullable: true,
    example: 'order_123',
    minLength: 1,
    maxLength: 255,
    pattern: '^[\\x20-\\x7e]{1,255}$',
  })
  idempotency_key?: string | null;
}

/** The body of POST /api/conversions/batch (documentation only: the service checks it item by item). */
export class ConversionBatchBodyDto {
  @ApiProperty({
    description: `1 to ${BATCH_MAX_ITEMS} conversions, each exactly as for POST /api/conversion; answered one by one, in order.`,
    type: [ConversionBatchItemDto],
    minItems: 1,
    maxItems: BATCH_MAX_ITEMS,
    example: [
      {
        click_id: 'clk_xyz',
        conversion_time: '2026-05-26T12:34:56Z',
        conversion_value: 99.99,
        currency: 'USD',
        order_id: 'order_123',
        idempotency_key: 'order_123',
      },
      { click_id: 'clk_abc', conversion_time: '2026-05-26T12:40:00Z', conversion_value: '15.00', currency: 'eur' },
    ],
  })
  conversions: ConversionBatchItemDto[];
}

/** Why an item was refused: the status and body the single route would have answered. */
export class ConversionBatchErrorDto {
  @ApiProperty({
    description:
      'The status POST /api/conversion would have answered for this item alone: 404, 400, 422, or 503 (retry it).',
    example: 404,
  })
  status: number;

  @ApiProperty({
    description:
      "The single route's `detail`: a text, or for a 422 the Pydantic list, whose `loc` starts with " +
      '`["body","conversions",index]`.',
    oneOf: [
      { type: 'string', example: 'Click not found' },
      {
        type: 'array',
        items: { type: 'object', additionalProperties: true },
        example: [{ type: 'missing', loc: ['body', 'conversions', 2, 'currency'], msg: 'Field required', input: {} }],
      },
    ],
  })
  detail: string | object[];
}

export class ConversionBatchResultDto {
  @ApiProperty({ description: "The item's position in the request's `conversions` (0-based).", example: 0 })
  index: number;

  @ApiProperty({ enum: ['ok', 'duplicate', 'rejected'], example: 'ok' })
  status: 'ok' | 'duplicate' | 'rejected';

  @ApiPropertyOptional({
    description: 'Accepted items: the id of the conversion written, or for a duplicate the one it matched.',
    example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
  })
  conversion_id?: string;

  @ApiPropertyOptional({
    description: 'Duplicates only: which dedup layer of this item matched.',
    enum: ['idempotency_key', 'event_id', 'order_id'],
  })
  matched_on?: 'idempotency_key' | 'event_id' | 'order_id';

  @ApiPropertyOptional(SUPERSEDED_DOC)
  superseded?: 'tag';

  @ApiPropertyOptional(PAYLOAD_MISMATCH_DOC)
  payload_mismatch?: PayloadField[];

  @ApiPropertyOptional({
    description:
      "Accepted items: the attribution-time checks the item failed (the partner's policy is `flag`), as the single route answers them.",
    type: () => [AttributionWarningDto],
  })
  warnings?: AttributionWarningDto[];

  @ApiPropertyOptional({ description: 'Rejected items only.', type: () => ConversionBatchErrorDto })
  error?: ConversionBatchErrorDto;

  @ApiPropertyOptional({
    description:
      '`?validate_only=true` only, on every item: checked, nothing written. An `ok` then has no `conversion_id`, nor ' +
      'has a `duplicate` of an earlier item of the same batch (that one was not written either).',
    enum: [true],
    example: true,
  })
  validate_only?: true;
}

export class ConversionBatchCountsDto {
  @ApiProperty({ example: 1 })
  ok: number;

  @ApiProperty({ example: 1 })
  duplicate: number;

  @ApiProperty({ example: 1 })
  rejected: number;
}

export class ConversionBatchResponseDto {
  @ApiProperty({ description: 'Exactly one result per item, in request order.', type: [ConversionBatchResultDto] })
  results: ConversionBatchResultDto[];

  @ApiProperty({ type: () => ConversionBatchCountsDto })
  counts: ConversionBatchCountsDto;

  @ApiPropertyOptional({
    description: '`?validate_only=true` only: every item was checked and nothing was written.',
    enum: [true],
    example: true,
  })
  validate_only?: true;
}
