import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated, CurrentPartner, CurrentPrincipal } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import {
  CreatedWebhookEndpointDto,
  CreateWebhookEndpointDto,
  ListDeliveriesQueryDto,
  ReplayResultDto,
  ReplayWebhookDto,
  RotatedWebhookSecretDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryPageDto,
  WebhookEndpointDto,
  WebhookEndpointListDto,
} from './webhooks.dto';
import { WebhooksService } from './webhooks.service';

const ID = { name: 'id', example: '5c1d8e2a-3b4f-4a6e-9d7c-8b2a1f0e3d4c' };
const PARTNER = { name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' };
const WID = { name: 'wid', example: '5c1d8e2a-3b4f-4a6e-9d7c-8b2a1f0e3d4c' };
const SIGNING =
  'Messages follow the Standard Webhooks specification: headers webhook-id, webhook-timestamp and webhook-signature ' +
  '(`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed by the decoded secret), body `{type, timestamp, data}`.';

/** A partner's own endpoints (partner key): another partner's endpoint is not found. */
@ApiTags('webhooks')
@Controller('api/webhooks')
@Authenticated('partner')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: 'Register a webhook endpoint. The secret is returned only in this response.',
    description: SIGNING,
  })
  @ApiResponse({ status: 201, type: CreatedWebhookEndpointDto })
  @ApiErrors('webhook_limit', 'validation')
  createOwnWebhook(
    @CurrentPartner() partnerId: string,
    @Body() dto: CreateWebhookEndpointDto,
  ): Promise<CreatedWebhookEndpointDto> {
    return this.webhooks.create(null, partnerId, dto);
  }

  @Get()
  @ApiOperation({ summary: 'List your webhook endpoints (secrets are never shown again).' })
  @ApiResponse({ status: 200, type: WebhookEndpointListDto })
  listOwnWebhooks(@CurrentPartner() partnerId: string): Promise<WebhookEndpointListDto> {
    return this.webhooks.list(partnerId);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change the URL, the events or enabled of one of your endpoints.' })
  @ApiParam(ID)
  @ApiResponse({ status: 200, type: WebhookEndpointDto })
  @ApiErrors('webhook_not_found', 'validation')
  updateOwnWebhook(
    @CurrentPartner() partnerId: string,
    @Param('id') id: string,
    @Body() dto: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpointDto> {
    return this.webhooks.update(null, partnerId, id, dto);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete one of your endpoints (nothing more is sent to it).' })
  @ApiParam(ID)
  @ApiResponse({ status: 204, description: 'Deleted.' })
  @ApiErrors('webhook_not_found')
  deleteOwnWebhook(@CurrentPartner() partnerId: string, @Param('id') id: string): Promise<void> {
    return this.webhooks.remove(null, partnerId, id);
  }

  @Post(':id/rotate-secret')
  @HttpCode(201)
  @ApiOperation({
    summary:
      'Rotate the signing secret: the new one is shown once; the old one keeps signing for WEBHOOK_SECRET_GRACE (24 h).',
  })
  @ApiParam(ID)
  @ApiResponse({ status: 201, type: RotatedWebhookSecretDto })
  @ApiErrors('webhook_not_found')
  rotateOwnWebhookSecret(
    @CurrentPartner() partnerId: string,
    @Param('id') id: string,
  ): Promise<RotatedWebhookSecretDto> {
    return this.webhooks.rotate(null, partnerId, id);
  }

  @Get(':id/deliveries')
  @ApiOperation({ summary: 'The delivery log of one of your endpoints, newest first, keyset-paginated.' })
  @ApiParam(ID)
  @ApiResponse({ status: 200, type: WebhookDeliveryPageDto })
  @ApiErrors('webhook_not_found', 'validation')
  listOwnWebhookDeliveries(
    @CurrentPartner() partnerId: string,
    @Param('id') id: string,
    @Query() q: ListDeliveriesQueryDto,
  ): Promise<WebhookDeliveryPageDto> {
    return this.webhooks.deliveries(partnerId, id, q);
  }

  @Post(':id/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send again one message (`message_id`) or every message since a time (`since`).' })
  @ApiParam(ID)
  @ApiResponse({ status: 202, type: ReplayResultDto })
  @ApiErrors('webhook_not_found', 'webhook_message_not_found', 'validation')
  replayOwnWebhook(
    @CurrentPartner() partnerId: string,
    @Param('id') id: string,
    @Body() dto: ReplayWebhookDto,
  ): Promise<ReplayResultDto> {
    return this.webhooks.replay(null, partnerId, id, dto);
  }
}

/** The same for operators, on any partner; writes are audited. */
@ApiTags('admin')
@Controller('admin/partners/:partner_id/webhooks')
@Authenticated('admin')
export class AdminWebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({
    summary: "Register a partner's webhook endpoint. The secret is returned only in this response.",
    description: SIGNING,
  })
  @ApiParam(PARTNER)
  @ApiResponse({ status: 201, type: CreatedWebhookEndpointDto })
  @ApiErrors('partner_not_found', 'webhook_limit', 'validation')
  createWebhook(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Body() dto: CreateWebhookEndpointDto,
  ): Promise<CreatedWebhookEndpointDto> {
    return this.webhooks.create(actor, partnerId, dto);
  }

  @Get()
  @Authenticated('support')
  @ApiOperation({ summary: "List a partner's webhook endpoints (support or admin key)." })
  @ApiParam(PARTNER)
  @ApiResponse({ status: 200, type: WebhookEndpointListDto })
  @ApiErrors('partner_not_found')
  listWebhooks(@Param('partner_id') partnerId: string): Promise<WebhookEndpointListDto> {
    return this.webhooks.list(partnerId);
  }

  @Patch(':wid')
  @ApiOperation({ summary: "Change a partner's endpoint." })
  @ApiParam(PARTNER)
  @ApiParam(WID)
  @ApiResponse({ status: 200, type: WebhookEndpointDto })
  @ApiErrors('webhook_not_found', 'validation')
  updateWebhook(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Param('wid') wid: string,
    @Body() dto: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpointDto> {
    return this.webhooks.update(actor, partnerId, wid, dto);
  }

  @Delete(':wid')
  @HttpCode(204)
  @ApiOperation({ summary: "Delete a partner's endpoint." })
  @ApiParam(PARTNER)
  @ApiParam(WID)
  @ApiResponse({ status: 204, description: 'Deleted.' })
  @ApiErrors('webhook_not_found')
  deleteWebhook(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Param('wid') wid: string,
  ): Promise<void> {
    return this.webhooks.remove(actor, partnerId, wid);
  }

  @Post(':wid/rotate-secret')
  @HttpCode(201)
  @ApiOperation({ summary: "Rotate a partner's endpoint secret (the old one signs too for WEBHOOK_SECRET_GRACE)." })
  @ApiParam(PARTNER)
  @ApiParam(WID)
  @ApiResponse({ status: 201, type: RotatedWebhookSecretDto })
  @ApiErrors('webhook_not_found')
  rotateWebhookSecret(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Param('wid') wid: string,
  ): Promise<RotatedWebhookSecretDto> {
    return this.webhooks.rotate(actor, partnerId, wid);
  }

  @Get(':wid/deliveries')
  @Authenticated('support')
  @ApiOperation({ summary: "A partner's endpoint's delivery log (support or admin key), newest first." })
  @ApiParam(PARTNER)
  @ApiParam(WID)
  @ApiResponse({ status: 200, type: WebhookDeliveryPageDto })
  @ApiErrors('webhook_not_found', 'validation')
  listWebhookDeliveries(
    @Param('partner_id') partnerId: string,
    @Param('wid') wid: string,
    @Query() q: ListDeliveriesQueryDto,
  ): Promise<WebhookDeliveryPageDto> {
    return this.webhooks.deliveries(partnerId, wid, q);
  }

  @Post(':wid/replay')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send again one message or every message since a time.' })
  @ApiParam(PARTNER)
  @ApiParam(WID)
  @ApiResponse({ status: 202, type: ReplayResultDto })
  @ApiErrors('webhook_not_found', 'webhook_message_not_found', 'validation')
  replayWebhook(
    @CurrentPrincipal() actor: Principal,
    @Param('partner_id') partnerId: string,
    @Param('wid') wid: string,
    @Body() dto: ReplayWebhookDto,
  ): Promise<ReplayResultDto> {
    return this.webhooks.replay(actor, partnerId, wid, dto);
  }
}
