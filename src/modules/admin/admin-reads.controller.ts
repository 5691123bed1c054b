import { Controller, Get, Param, Query, StreamableFile } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { AuditPageDto, ListAuditQueryDto } from '../audit/audit.dto';
import { AuditService } from '../audit/audit.service';
import { Authenticated } from '../auth/auth.decorators';
import {
  ClickWithConversionsDto,
  ConversionDetailDto,
  ConversionFiltersDto,
  ConversionPageDto,
  ListConversionsQueryDto,
} from '../conversions/conversion-query.dto';
import { KeyListDto, ListKeysQueryDto, PartnerDetailDto, PartnerListDto } from './admin.dto';
import { AdminService } from './admin.service';

const CSV_EXAMPLE =
  'id,conversion_time,partner_id,tag_id,click_id,bid_id,source,event_type,conversion_value,currency,order_id,event_id,dedup_key,dedup_layer,page_url,referrer,user_agent,session_id,client_id,created_at,params_extra\r\n' +
  '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40,2026-05-26T12:34:56.000Z,0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30,6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00,clk_xyz,bid_42,api,purchase_completed,99.99,USD,order_123,,order_123,idempotency_key,,,,,,2026-05-26T12:34:57.120Z,"{""coupon"":""SPRING""}"\r\n';

/** What support staff (and admins) may read. */
@ApiTags('admin')
@Controller('admin')
@Authenticated('support')
export class AdminReadsController {
  constructor(
    private readonly admin: AdminService,
    private readonly audit: AuditService,
  ) {}

  @Get('conversions')
  @ApiOperation({
    summary: 'List conversions (support or admin key), newest first, with filters and cursor pagination.',
    description:
      'Filters combine with AND. Order: conversion_time descending, then id descending. Keyset pagination: pass ' +
      '`next_cursor` back as `cursor` until it is null; a deep page costs what the first does. Rows recorded while ' +
      'you page never make you miss or repeat a row that existed when you started.',
  })
  @ApiResponse({ status: 200, type: ConversionPageDto })
  @ApiErrors('validation')
  listConversions(@Query() query: ListConversionsQueryDto): Promise<ConversionPageDto> {
    return this.admin.listConversions(query);
  }

  @Get('conversions/export.csv')
  @ApiOperation({
    summary: 'Export the filtered conversions as CSV (support or admin key), streamed.',
    description:
      'The same filters as the list, every matching row, newest first, RFC 4180 (CRLF, fields quoted when needed). ' +
      'The last column, params_extra, is the JSON of params.extra. Streamed in keyset batches: memory stays flat.',
  })
  @ApiProduces('text/csv')
  @ApiResponse({
    status: 200,
    description: 'A header row, then one row per conversion.',
    content: { 'text/csv': { schema: { type: 'string' }, example: CSV_EXAMPLE } },
  })
  @ApiErrors('validation')
  exportConversionsCsv(@Query() query: ConversionFiltersDto): StreamableFile {
    return new StreamableFile(this.admin.exportConversionsCsv(query), {
      type: 'text/csv; charset=utf-8',
      disposition: 'attachment; filename="conversions.csv"',
    });
  }

  @Get('conversions/:id')
  @ApiOperation({
    summary: 'One conversion, whole: params.extra, dedup key and layer, the click and bid it was attributed to.',
  })
  @ApiParam({ name: 'id', example: '3d0f6a8e-2b1c-4f5d-9e7a-6c8b1d2e3f40' })
  @ApiResponse({ status: 200, type: ConversionDetailDto })
  @ApiErrors('conversion_not_found')
  getConversion(@Param('id') id: string): Promise<ConversionDetailDto> {
    return this.admin.getConversion(id);
  }

  @Get('clicks/:click_id')
  @ApiOperation({ summary: 'A click (tag, partner, bid id, when) and every conversion on it.' })
  @ApiParam({ name: 'click_id', example: 'clk_xyz' })
  @ApiResponse({ status: 200, type: ClickWithConversionsDto })
  @ApiErrors('click_not_found')
  getClick(@Param('click_id') clickId: string): Promise<ClickWithConversionsDto> {
    return this.admin.getClick(clickId);
  }

  @Get('partners')
  @ApiOperation({ summary: 'Every partner, with its state.' })
  @ApiResponse({ status: 200, type: PartnerListDto })
  listPartners(): Promise<PartnerListDto> {
    return this.admin.listPartners();
  }

  @Get('partners/:partner_id')
  @ApiOperation({ summary: "A partner with its tags and its keys' metadata (never secrets)." })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: PartnerDetailDto })
  @ApiErrors('partner_not_found')
  getPartner(@Param('partner_id') partnerId: string): Promise<PartnerDetailDto> {
    return this.admin.getPartner(partnerId);
  }

  @Get('keys')
  @ApiOperation({ summary: "API keys' metadata (never secrets), optionally one partner's." })
  @ApiResponse({ status: 200, type: KeyListDto })
  @ApiErrors('validation')
  listApiKeys(@Query() query: ListKeysQueryDto): Promise<KeyListDto> {
    return this.admin.listApiKeys(query);
  }

  @Get('audit')
  @ApiOperation({
    summary: 'The audit log of admin writes, newest first: who, what, when, before/after (never a secret).',
  })
  @ApiResponse({ status: 200, type: AuditPageDto })
  @ApiErrors('validation')
  listAudit(@Query() query: ListAuditQueryDto): Promise<AuditPageDto> {
    return this.audit.listAudit(query);
  }
}
