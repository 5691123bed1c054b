import { Body, Controller, Delete, HttpCode, Param, Post, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Roles } from '../auth/auth.decorators';
import { AdminService } from './admin.service';
import { CreateApiKeyDto, CreatePartnerDto, CreateTagDto, IssuedApiKeyDto, PartnerDto, RateLimitDto, SetRateLimitDto, TagDto } from './admin.dto';

@ApiTags('admin')
@ApiBearerAuth()
@Controller('admin')
@Roles('admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('partners')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a partner (advertiser).' })
  @ApiResponse({ status: 201, type: PartnerDto })
  @ApiErrors(401, 403, 422)
  createPartner(@Body() dto: CreatePartnerDto): Promise<PartnerDto> {
    return this.admin.createPartner(dto);
  }

  @Post('partners/:partner_id/tags')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create a tag for a partner.' })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 201, type: TagDto })
  @ApiErrors(401, 403, [404, 'Partner not found'], 422)
  createTag(@Param('partner_id') partnerId: string, @Body() dto: CreateTagDto): Promise<TagDto> {
    return this.admin.createTag(partnerId, dto);
  }

  @Post('keys')
  @HttpCode(201)
  @ApiOperation({ summary: 'Create an API key. The secret is returned only in this response.' })
  @ApiResponse({ status: 201, type: IssuedApiKeyDto })
  @ApiErrors(401, 403, [404, 'Partner not found'], 422)
  createApiKey(@Body() dto: CreateApiKeyDto): Promise<IssuedApiKeyDto> {
    return this.admin.createApiKey(dto);
  }

  @Delete('keys/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an API key. This replica refuses it at once; others within KEY_CACHE_TTL_MS (default 5 s).' })
  @ApiParam({ name: 'id', example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' })
  @ApiResponse({ status: 204, description: 'Revoked (also when it already was).' })
  @ApiErrors(401, 403, [404, 'API key not found'])
  revokeApiKey(@Param('id') id: string): Promise<void> {
    return this.admin.revokeApiKey(id);
  }

  @Put('partners/:partner_id/rate-limit')
  @ApiOperation({
    summary: "Set a partner's rate limit: requests per minute per API key (0 unlimited, null the default).",
    description: 'Over the limit a key gets 429 with Retry-After. This replica applies a change at once; others within KEY_CACHE_TTL_MS (default 5 s).',
  })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: RateLimitDto })
  @ApiErrors(401, 403, [404, 'Partner not found'], 422)
  setPartnerRateLimit(@Param('partner_id') partnerId: string, @Body() dto: SetRateLimitDto): Promise<RateLimitDto> {
    return this.admin.setPartnerRateLimit(partnerId, dto.rate_limit_per_minute);
  }
}
