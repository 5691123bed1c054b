import { Body, Controller, Headers, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPrincipal } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { ConversionBatchBodyDto, ConversionBatchResponseDto } from './conversion-batch.dto';
import { ConversionBatchService } from './conversion-batch.service';
import { ValidateOnly } from './validate-only';

const CONVERSION_ID = '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40';

@ApiTags('conversions')
@Controller('api/conversions')
export class ConversionBatchController {
  constructor(private readonly batches: ConversionBatchService) {}

  @Post('batch')
  @HttpCode(200)
  @Authenticated('partner')
  @ApiOperation({
    summary: 'Send up to 1,000 conversions at once (partner key); each is answered on its own.',
    description:
      'Each item is exactly a POST /api/conversion body and takes the same path, with the same checks and the same ' +
      "deduplication; its `idempotency_key` plays the Idempotency-Key header's part (the header is refused here). " +
      'Items are independent: one refused item never touches another. Two items with the same dedup key: the first ' +
      'is `ok`, the later ones its `duplicate`. `results` holds one entry per item, in request order. Body up to 1 MiB. ' +
      'With `?validate_only=true` every item is checked (dedup included) and nothing is written: each result and the ' +
      'answer add `"validate_only": true`.',
  })
  @ApiBody({ type: ConversionBatchBodyDto })
  @ApiResponse({
    status: 200,
    type: ConversionBatchResponseDto,
    description: 'One result per item, in request order, and the counts.',
    content: {
      'application/json': {
        examples: {
          mixed: {
            value: {
              results: [
                { index: 0, status: 'ok', conversion_id: CONVERSION_ID },
                { index: 1, status: 'duplicate', conversion_id: CONVERSION_ID, matched_on: 'idempotency_key' },
                { index: 2, status: 'rejected', error: { status: 404, detail: 'Click not found' } },
                { index: 3, status: 'rejected', error: { status: 400, detail: 'Click missing bid id' } },
                {
                  index: 4,
                  status: 'rejected',
                  error: {
                    status: 422,
                    detail: [
                      {
                        type: 'missing',
                        loc: ['body', 'conversions', 4, 'currency'],
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
          validate_only: {
            summary: '?validate_only=true: checked, nothing written',
            value: {
              results: [
                { index: 0, status: 'ok', validate_only: true },
                {
                  index: 1,
                  status: 'duplicate',
                  conversion_id: CONVERSION_ID,
                  matched_on: 'idempotency_key',
                  validate_only: true,
                },
                {
                  index: 2,
                  status: 'rejected',
                  error: { status: 404, detail: 'Click not found' },
                  validate_only: true,
                },
              ],
              counts: { ok: 1, duplicate: 1, rejected: 1 },
              validate_only: true,
            },
          },
        },
      },
    },
  })
  @ApiResponse({
    status: 413,
    description: 'Body over 1 MiB (this route only; 64 KiB elsewhere). Body: `{"detail":"Request body is too large"}`.',
    schema: {
      type: 'object',
      required: ['detail'],
      properties: { detail: { type: 'string' } },
      example: { detail: 'Request body is too large' },
    },
  })
  @ApiErrors('unsupported_media_type', 'validation', 'rate_limited', 'unavailable')
  createConversionBatch(
    @CurrentPrincipal() principal: Principal,
    @Req() request: { id?: string },
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @ValidateOnly() validateOnly: boolean,
    @Body() body: unknown,
  ): Promise<ConversionBatchResponseDto> {
    const caller = {
      partnerId: principal.partnerId!,
      keyId: principal.keyId,
      requestId: request.id ?? null,
      mode: principal.mode,
    };
    return this.batches.recordBatch(caller, body, idempotencyKey, validateOnly);
  }
}
