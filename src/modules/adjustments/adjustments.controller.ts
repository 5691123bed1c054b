import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPartner } from '../auth/auth.decorators';
import { AdjustmentBatchBodyDto, AdjustmentBatchResponseDto, EXAMPLE_IDS } from './adjustment.dto';
import { AdjustmentsService } from './adjustments.service';

const { CONVERSION_ID, ADJUSTMENT_ROW_ID } = EXAMPLE_IDS;
const AT = '2026-05-28T09:00:00.000Z';

@ApiTags('adjustments')
@Controller('api/conversion')
export class AdjustmentsController {
  constructor(private readonly adjustments: AdjustmentsService) {}

  @Post('adjustments')
  @HttpCode(200)
  @Authenticated('partner')
  @ApiOperation({
    summary: 'Retract, restate or refund up to 1,000 of your conversions (partner key); each is answered on its own.',
    description:
      'Each item names one of your conversions by `conversion_id`, or by `order_id` (+ `event_type`, default ' +
      '`purchase_completed`). `retract`: it no longer counts. `restate`: `adjusted_value` is the new total. `refund`: ' +
      '`refund_value` comes off the current total; partial refunds add up. Adjustments apply in `adjusted_at` order, ' +
      'whatever order they arrive in: one dated before a recorded restatement is recorded but changes nothing ' +
      '(`warnings: [{code: "more_recent_adjustment"}]`). A retry (same `adjustment_id`, or without one the same ' +
      'conversion, type, adjusted_at and value) is a `duplicate` and changes nothing. Refusals: ' +
      "`conversion_not_found` (404, also for another partner's conversion), `already_retracted`, " +
      '`adjustment_precedes_conversion`, `refund_exceeds_value`, `order_id_ambiguous` (409), 422 for bad fields. ' +
      '`results` holds one entry per item, in request order. Body up to 1 MiB.',
  })
  @ApiBody({ type: AdjustmentBatchBodyDto })
  @ApiResponse({
    status: 200,
    type: AdjustmentBatchResponseDto,
    description: 'One result per item, in request order, and the counts.',
    content: {
      'application/json': {
        examples: {
          mixed: {
            value: {
              results: [
                {
                  index: 0,
                  status: 'ok',
                  conversion_id: CONVERSION_ID,
                  adjustment: {
                    id: ADJUSTMENT_ROW_ID,
                    type: 'refund',
                    value: '19.99',
                    adjusted_at: AT,
                    adjustment_id: 'refund_881',
                    outcome: 'applied',
                    value_before: '99.99',
                    value_after: '80',
                    status_after: 'active',
                    recorded_at: '2026-05-28T09:00:01.250Z',
                  },
                  conversion: {
                    id: CONVERSION_ID,
                    conversion_value: '99.99',
                    current_value: '80',
                    status: 'active',
                    adjusted_at: AT,
                  },
                },
                {
                  index: 1,
                  status: 'duplicate',
                  conversion_id: CONVERSION_ID,
                  matched_on: 'adjustment_id',
                  adjustment: {
                    id: ADJUSTMENT_ROW_ID,
                    type: 'refund',
                    value: '19.99',
                    adjusted_at: AT,
                    adjustment_id: 'refund_881',
                    outcome: 'applied',
                    value_before: '99.99',
                    value_after: '80',
                    status_after: 'active',
                    recorded_at: '2026-05-28T09:00:01.250Z',
                  },
                  conversion: {
                    id: CONVERSION_ID,
                    conversion_value: '99.99',
                    current_value: '80',
                    status: 'active',
                    adjusted_at: AT,
                  },
                },
                {
                  index: 2,
                  status: 'rejected',
                  error: {
                    status: 409,
                    code: 'refund_exceeds_value',
                    detail: "The refund would take the conversion's value below zero",
                  },
                },
                {
                  index: 3,
                  status: 'rejected',
                  error: { status: 404, code: 'conversion_not_found', detail: 'Conversion not found' },
                },
                {
                  index: 4,
                  status: 'rejected',
                  error: {
                    status: 422,
                    code: 'validation',
                    detail: [
                      {
                        type: 'missing',
                        loc: ['body', 'adjustments', 4, 'refund_value'],
                        msg: 'Field required',
                        input: {},
                      },
                    ],
                  },
                },
              ],
              counts: { ok: 1, duplicate: 1, rejected: 3 },
            },
          },
          more_recent_adjustment: {
            summary: 'Recorded, total unchanged: a later restatement decides it',
            value: {
              results: [
                {
                  index: 0,
                  status: 'ok',
                  conversion_id: CONVERSION_ID,
                  adjustment: {
                    id: ADJUSTMENT_ROW_ID,
                    type: 'restate',
                    value: '70',
                    adjusted_at: '2026-05-27T09:00:00.000Z',
                    adjustment_id: null,
                    outcome: 'more_recent_adjustment',
                    value_before: '80',
                    value_after: '80',
                    status_after: 'active',
                    recorded_at: '2026-05-29T10:00:00.000Z',
                  },
                  conversion: {
                    id: CONVERSION_ID,
                    conversion_value: '99.99',
                    current_value: '80',
                    status: 'active',
                    adjusted_at: AT,
                  },
                  warnings: [
                    {
                      code: 'more_recent_adjustment',
                      msg: 'A more recent restatement already decides the total: recorded in the history, the total is unchanged',
                    },
                  ],
                },
              ],
              counts: { ok: 1, duplicate: 0, rejected: 0 },
            },
          },
        },
      },
    },
  })
  @ApiResponse({
    status: 413,
    description: 'Body over 1 MiB. Body: `{"detail":"Request body is too large"}`.',
    schema: {
      type: 'object',
      required: ['detail'],
      properties: { detail: { type: 'string' } },
      example: { detail: 'Request body is too large' },
    },
  })
  @ApiErrors('unsupported_media_type', 'validation', 'rate_limited', 'unavailable')
  adjustConversions(@CurrentPartner() partnerId: string, @Body() body: unknown): Promise<AdjustmentBatchResponseDto> {
    return this.adjustments.adjustBatch(partnerId, body);
  }
}
