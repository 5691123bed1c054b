import { Body, Controller, Delete, HttpCode, Param, Patch, Post, Put } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPrincipal } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { AdminService } from './admin.service';
import {
  CreateApiKeyDto,
  CreatePartnerDto,
  CreateTagDto,
  IssuedApiKeyDto,
  PartnerDto,
  PartnerStateDto,
  PartnerAttributionDto,
  RateLimitDto,
  RenamePartnerDto,
  RotateApiKeyDto,
  RotatedApiKeyDto,
  SetAttributionDto,
  SetRateLimitDto,
  TagDto,
  UpdateTagDto,
} from './admin.dto';

@ApiTags('admin')
@Controller('admin')
@Authenticated('admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('partners')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a partner (advertiser).' })
  @ApiResponse({ status: 201, type: PartnerDto })
  @ApiErrors('validation')
  createPartner(@CurrentPrincipal() actor: Principal, @Body() dto: CreatePartnerDto): Promise<PartnerDto> {
    return this.admin.createPartner(actor, dto);
  }

  @Post('partners/:partner_id/tags')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a tag for a partner.' })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 201, type: TagDto })
  @ApiErrors('partner_not_found', 'validation')
  createTag(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Body() dto: CreateTagDto,
  ): Promise<TagDto> {
    return this.admin.createTag(actor, partnerId, dto);
  }

  @Post('keys')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an API key. The secret is returned only in this response.' })
  @ApiResponse({ status: 201, type: IssuedApiKeyDto })
  @ApiErrors('partner_not_found', 'validation')
  createApiKey(@CurrentPrincipal() actor: Principal, @Body() dto: CreateApiKeyDto): Promise<IssuedApiKeyDto> {
    return this.admin.createApiKey(actor, dto);
  }

  @Delete('keys/:id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke an API key. This replica refuses it at once; others within KEY_CACHE_TTL_MS (default 5 s).',
  })
  @ApiParam({ name: 'id', example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' })
  @ApiResponse({ status: 204, description: 'Revoked (also when it already was).' })
  @ApiErrors('api_key_not_found')
  revokeApiKey(@CurrentPrincipal() actor: Principal, @Param('id') id: string): Promise<void> {
    return this.admin.revokeApiKey(actor, id);
  }

  @Post('keys/:id/rotate')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Rotate an API key: a new secret (shown only in this response), the old one valid for a grace period.',
    description:
      "The new key has the old one's role, partner and name. The old secret keeps working for `grace_seconds` " +
      '(default 24 hours; never longer than it already would), so the holder can deploy the new one without downtime. ' +
      "The body may be omitted. Other replicas see the old key's expiry within KEY_CACHE_TTL_MS (default 5 s).",
  })
  @ApiParam({ name: 'id', example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' })
  @ApiBody({ type: RotateApiKeyDto, required: false })
  @ApiResponse({ status: 201, type: RotatedApiKeyDto })
  @ApiErrors('api_key_not_found', 'api_key_revoked', 'api_key_expired', 'validation')
  rotateApiKey(
    @CurrentPrincipal() actor: Principal,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<RotatedApiKeyDto> {
    return this.admin.rotateApiKey(actor, id, body);
  }

  @Patch('partners/:partner_id')
  @ApiOperation({ summary: 'Rename a partner.' })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: PartnerStateDto })
  @ApiErrors('partner_not_found', 'payload_too_large', 'unsupported_media_type', 'validation')
  renamePartner(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Body() dto: RenamePartnerDto,
  ): Promise<PartnerStateDto> {
    return this.admin.renamePartner(actor, partnerId, dto);
  }

  @Post('partners/:partner_id/disable')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Disable a partner: its keys stop working (this replica at once, others within KEY_CACHE_TTL_MS). Idempotent.',
  })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: PartnerStateDto })
  @ApiErrors('partner_not_found')
  disablePartner(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
  ): Promise<PartnerStateDto> {
    return this.admin.disablePartner(actor, partnerId);
  }

  @Post('partners/:partner_id/enable')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Re-enable a disabled partner: its keys that are not revoked or expired work again. Idempotent.',
  })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: PartnerStateDto })
  @ApiErrors('partner_not_found')
  enablePartner(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
  ): Promise<PartnerStateDto> {
    return this.admin.enablePartner(actor, partnerId);
  }

  @Patch('tags/:tag_id')
  @ApiOperation({ summary: 'Rename a tag and/or replace its allowed origins.' })
  @ApiParam({ name: 'tag_id', example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' })
  @ApiResponse({ status: 200, type: TagDto })
  @ApiErrors('tag_not_found', 'payload_too_large', 'unsupported_media_type', 'validation')
  updateTag(
    @CurrentPrincipal() actor: Principal,
    @Param('tag_id') tagId: string,
    @Body() dto: UpdateTagDto,
  ): Promise<TagDto> {
    return this.admin.updateTag(actor, tagId, dto);
  }

  @Put('partners/:partner_id/rate-limit')
  @ApiOperation({
    summary: "Set a partner's rate limit: requests per minute per API key (0 unlimited, null the default).",
    description:
      'Over the limit a key gets 429 with Retry-After. This replica applies a change at once; others within KEY_CACHE_TTL_MS (default 5 s).',
  })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: RateLimitDto })
  @ApiErrors('partner_not_found', 'validation')
  setPartnerRateLimit(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Body() dto: SetRateLimitDto,
  ): Promise<RateLimitDto> {
    return this.admin.setPartnerRateLimit(actor, partnerId, dto.rate_limit_per_minute);
  }

  @Put('partners/:partner_id/attribution')
  @ApiOperation({
    summary: "Set a partner's attribution-time checks: its window (days) and its policy (`flag` or `reject`).",
    description:
      'Conversions are checked against their click and the clock: `precedes_click` (more than 5 minutes before the click), ' +
      "`outside_window` (later than the window after the click), `future` (more than 10 minutes ahead of the server's clock). " +
      '`flag` records them with their verdict and answers `warnings`; `reject` answers 422 at body.conversion_time. ' +
      'This replica applies a change at once; others within KEY_CACHE_TTL_MS (default 5 s).',
  })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: PartnerAttributionDto })
  @ApiErrors('partner_not_found', 'validation')
  setPartnerAttribution(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Body() dto: SetAttributionDto,
  ): Promise<PartnerAttributionDto> {
    return this.admin.setPartnerAttribution(actor, partnerId, dto);
  }
}
