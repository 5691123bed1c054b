import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPrincipal } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { SignedClickView } from '../clicks/click.dto';
import { CreateTestClickDto, TestEventsDto, TestEventsQueryDto } from './sandbox.dto';
import { SandboxService } from './sandbox.service';

const CLICK_EXAMPLE = {
  click_id: 'clk_test_q3VtN0f2bWx5c2FuZGJveA',
  tag_id: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00',
  partner_id: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  bid_id: 'bid_test_1',
  clicked_at: '2026-05-26T12:00:00.000Z',
  landing_url: null,
  created_at: '2026-05-26T12:00:00.000Z',
  sig: 'kAb12Cd3.Qm9ndXNTaWduYXR1cmVGb3JEb2NzT25seUFBQUFBQUFBQUFBQUE',
  exp: 1782475200,
};

@ApiTags('sandbox')
@Controller('api')
@Authenticated('partner')
export class SandboxController {
  constructor(private readonly sandbox: SandboxService) {}

  @Post('test/clicks')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Create a synthetic (test) click on one of your tags (test key only).',
    description:
      'So the whole flow can be tried without the ad server: the answer carries the click and its `sig` and `exp`, ' +
      'exactly what the Tag receives on the landing URL. A test click is test data: only test keys (and the Tag) can ' +
      'attribute conversions to it; a live key posting a conversion on it gets 404 Click not found, as a test key does ' +
      "on a live click. Another partner's tag is answered as an unknown one (422 at body.tag_id). A live key gets 403.",
  })
  @ApiResponse({
    status: 201,
    type: SignedClickView,
    content: { 'application/json': { examples: { click: { value: CLICK_EXAMPLE } } } },
  })
  @ApiErrors('test_key_required', 'validation')
  createTestClick(@CurrentPrincipal() principal: Principal, @Body() dto: CreateTestClickDto): Promise<SignedClickView> {
    return this.sandbox.createTestClick(principal, dto);
  }

  @Get('test-events')
  @ApiOperation({
    summary: "Your test key's last 24 hours: test conversions and refused test attempts, newest first (test key only).",
    description:
      'Each event says what became of it (`recorded` or `rejected`) and why (`reason`). `since` is clamped to the last ' +
      '24 hours; at most `limit` events (default 100, at most 500). Refused attempts are written in the background, so ' +
      'one appears here within ATTEMPTS_FLUSH_INTERVAL (default 250 ms). Duplicates write nothing and are not listed. ' +
      'A live key gets 403.',
  })
  @ApiResponse({
    status: 200,
    type: TestEventsDto,
    content: {
      'application/json': {
        examples: {
          events: {
            value: {
              since: '2026-05-25T12:00:00.000Z',
              items: [
                {
                  type: 'refused_attempt',
                  at: '2026-05-26T12:00:05.000Z',
                  outcome: 'rejected',
                  reason: 'click_missing_bid',
                  reason_label: 'Click missing bid id',
                  status: 400,
                  conversion_id: null,
                  source: 'api',
                  click_id: 'clk_test_nobid',
                  event_type: 'purchase_completed',
                  order_id: 'order_test_2',
                  event_id: null,
                  error_loc: null,
                  error_type: null,
                },
                {
                  type: 'conversion',
                  at: '2026-05-26T12:00:01.000Z',
                  outcome: 'recorded',
                  reason: null,
                  reason_label: null,
                  status: 200,
                  conversion_id: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
                  source: 'api',
                  click_id: CLICK_EXAMPLE.click_id,
                  event_type: 'purchase_completed',
                  order_id: 'order_test_1',
                  event_id: null,
                  error_loc: null,
                  error_type: null,
                },
              ],
              truncated: false,
            },
          },
        },
      },
    },
  })
  @ApiErrors('test_key_required', 'validation')
  listTestEvents(@CurrentPrincipal() principal: Principal, @Query() query: TestEventsQueryDto): Promise<TestEventsDto> {
    return this.sandbox.listTestEvents(principal, query);
  }
}
