import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPrincipal, partnerOf } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { ConversionBody, ConversionCommand } from './conversion.command';
import { ConversionResultDto } from './conversion.dto';
import { ConversionsService } from './conversions.service';
import { IdempotencyKey } from './idempotency-key';
import { CountConversions } from '../observability/conversion-metrics';
import { ValidateOnly } from './validate-only';

@ApiTags('conversions')
@Controller('api')
export class ConversionsController {
  constructor(private readonly conversions: ConversionsService) {}

  @Post('conversion')
  @HttpCode(200)
  @Authenticated('partner')
  @ApiOperation({
    summary: 'Send a conversion from your backend (partner key).',
    description:
      'Deduplication: the Idempotency-Key header, else event_id, else order_id is the dedup key; the same key + click_id + ' +
      'event_type within the dedup window (default 7 days) returns `duplicate` and writes nothing. Without any key every ' +
      'request writes a row. Any additional body keys are stored under params.extra. With `?validate_only=true` every ' +
      'check runs (dedup included) and nothing is written: the answer adds `"validate_only": true`, and an `ok` has ' +
      'no `conversion_id`.',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Optional but recommended: 1 to 255 printable ASCII characters.',
    example: 'order_123',
  })
  @ApiResponse({
    status: 200,
    type: ConversionResultDto,
    description: '`{"status":"ok"}` or, when a duplicate is detected, `{"status":"duplicate"}`.',
    content: {
      'application/json': {
        examples: {
          ok: { value: { status: 'ok', conversion_id: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' } },
          duplicate: {
            value: {
              status: 'duplicate',
              conversion_id: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
              matched_on: 'idempotency_key',
            },
          },
          validate_only_ok: {
            summary: '?validate_only=true, all checks passed',
            value: { status: 'ok', validate_only: true },
          },
          validate_only_duplicate: {
            summary: '?validate_only=true, the dedup key is already held',
            value: {
              status: 'duplicate',
              conversion_id: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40',
              matched_on: 'idempotency_key',
              validate_only: true,
            },
          },
        },
      },
    },
  })
  @ApiErrors(
    'click_missing_bid',
    'click_not_found',
    'payload_too_large',
    'unsupported_media_type',
    'validation',
    'rate_limited',
    'unavailable',
  )
  @CountConversions('api', { validateOnly: true })
  createConversion(
    @CurrentPrincipal() principal: Principal,
    @IdempotencyKey() idempotencyKey: string | null,
    @ValidateOnly() validateOnly: boolean,
    @ConversionBody() command: ConversionCommand,
    @Req() request: { id?: string },
  ): Promise<ConversionResultDto> {
    const partnerId = partnerOf(principal);
    return this.conversions.record(
      {
        partnerId,
        source: 'api',
        idempotencyKey,
        validateOnly,
        mode: principal.mode,
        keyId: principal.keyId,
        requestId: request.id ?? null,
      },
      command,
    );
  }
}
