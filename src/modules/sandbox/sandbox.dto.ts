import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IntQuery } from '../../common/query';
import { DateTime, Optional, Required, Str } from '../../common/validation';

export const TEST_EVENTS_DEFAULT_LIMIT = 100;
export const TEST_EVENTS_MAX_LIMIT = 500;
/** How far back the test-events feed reaches: `since` is clamped to this. */
export const TEST_EVENTS_HORIZON_MS = 24 * 3_600_000;

export class CreateTestClickDto {
  @Required()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: "One of your own tags (another partner's tag is answered as an unknown one).",
    example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00',
  })
  tag_id: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'The bid id; without one, a conversion on the click is answered 400 Click missing bid id.',
    example: 'bid_test_1',
  })
  bid_id?: string;

  @Optional()
  @DateTime()
  @ApiProperty({
    description:
      'When the click happened (ISO-8601; UTC when no offset). Defaults to now; set it to try the attribution-time checks.',
    example: '2026-05-26T12:00:00Z',
  })
  clicked_at?: string;
}

export class TestEventsQueryDto {
  @Optional()
  @DateTime()
  @ApiProperty({
    description: 'Only events at or after this instant (ISO-8601). Clamped to the last 24 hours; default 24 hours ago.',
    example: '2026-05-26T00:00:00Z',
  })
  since?: string;

  @ApiPropertyOptional({
    description: `At most this many events, newest first: 1 to ${TEST_EVENTS_MAX_LIMIT}.`,
    example: TEST_EVENTS_DEFAULT_LIMIT,
    default: TEST_EVENTS_DEFAULT_LIMIT,
  })
  @Optional()
  @IntQuery({ min: 1, max: TEST_EVENTS_MAX_LIMIT })
  limit?: string;
}

export class TestEventDto {
  @ApiProperty({
    enum: ['conversion', 'refused_attempt'],
    description: 'A recorded test conversion, or a refused test attempt.',
    example: 'conversion',
  })
  type: 'conversion' | 'refused_attempt';

  @ApiProperty({ description: 'When it was recorded or refused.', example: '2026-05-26T12:00:00.120Z' })
  at: string;

  @ApiProperty({ enum: ['recorded', 'rejected'], example: 'recorded' })
  outcome: 'recorded' | 'rejected';

  @ApiProperty({
    description:
      'Why: for a refused attempt its reason code (click_not_found, click_missing_bid, validation, precedes_click, …); ' +
      'for a conversion its attribution-time warning (precedes_click, outside_window, future), null when none.',
    example: null,
    nullable: true,
    type: String,
  })
  reason: string | null;

  @ApiProperty({
    description: 'The reason in words (null when there is none).',
    nullable: true,
    type: String,
    example: null,
  })
  reason_label: string | null;

  @ApiProperty({ description: 'The HTTP status answered (200 for a recorded conversion).', example: 200 })
  status: number;

  @ApiProperty({
    description: 'The recorded conversion (null for a refused attempt).',
    nullable: true,
    type: String,
    example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
  })
  conversion_id: string | null;

  @ApiProperty({ description: 'api, tag or batch.', example: 'api' })
  source: string;

  @ApiProperty({ nullable: true, type: String, example: 'clk_test_q3VtN0f2' }) click_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'purchase_completed' }) event_type: string | null;
  @ApiProperty({ nullable: true, type: String, example: 'order_test_1' }) order_id: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) event_id: string | null;

  @ApiProperty({
    description: "A refused attempt's first validation error: where (`body.currency`) and its type.",
    nullable: true,
    type: String,
    example: null,
  })
  error_loc: string | null;

  @ApiProperty({ nullable: true, type: String, example: null }) error_type: string | null;
}

export class TestEventsDto {
  @ApiProperty({
    description: 'The instant the feed starts at (the clamped `since`).',
    example: '2026-05-25T12:00:00.000Z',
  })
  since: string;

  @ApiProperty({ type: [TestEventDto], description: 'Newest first.' })
  items: TestEventDto[];

  @ApiProperty({
    description: 'More events than `limit` exist since `since`: ask again with a later `since`, or a larger `limit`.',
    example: false,
  })
  truncated: boolean;
}
