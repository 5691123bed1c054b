import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { AppError } from '../../common/errors';
import { Authenticated, CurrentPrincipal, partnerOf } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { DiagnosticsSummaryDto, ExplainDto, ExplainQueryDto, SummaryQueryDto } from './diagnostics.dto';
import { DiagnosticsService } from './diagnostics.service';

export const DEFAULT_SUMMARY_DAYS = 14;

/** Diagnostics read live data: a test key gets 403 (its own traffic is GET /api/test-events). */
function livePartnerOf(principal: Principal): string {
  if (principal.mode !== 'live') throw new AppError('mode_not_allowed');
  return partnerOf(principal);
}

/** A partner's own diagnostics: its clicks explained, its daily outcomes. */
@ApiTags('diagnostics')
@Controller('api/diagnostics')
@Authenticated('partner')
export class DiagnosticsController {
  constructor(private readonly diagnostics: DiagnosticsService) {}

  @Get('clicks/:click_id')
  @ApiOperation({
    summary: 'Why did (or didn’t) a conversion on my click count? The whole story of one of your clicks (partner key).',
    description:
      'The click, each conversion on it, the dedup keys it holds and your refused attempts on it, each check with its verdict. ' +
      "Another partner's click and an unknown one are the same 404.",
  })
  @ApiParam({ name: 'click_id', example: 'clk_xyz' })
  @ApiResponse({ status: 200, type: ExplainDto })
  @ApiErrors('click_not_found', 'mode_not_allowed', 'validation')
  explainOwnClick(@CurrentPrincipal() principal: Principal, @Param('click_id') clickId: string): Promise<ExplainDto> {
    return this.diagnostics.explainOwnClick(livePartnerOf(principal), clickId);
  }

  @Get('summary')
  @ApiOperation({
    summary:
      'Your conversions per UTC day: stored, refused by reason, success rate, and alerts with a fix (partner key).',
  })
  @ApiResponse({ status: 200, type: DiagnosticsSummaryDto })
  @ApiErrors('mode_not_allowed', 'validation')
  getDiagnosticsSummary(
    @CurrentPrincipal() principal: Principal,
    @Query() q: SummaryQueryDto,
  ): Promise<DiagnosticsSummaryDto> {
    return this.diagnostics.summary(livePartnerOf(principal), Number(q.days ?? DEFAULT_SUMMARY_DAYS));
  }
}

/** Support's diagnostics: any click or order explained, any partner's daily outcomes. */
@ApiTags('admin')
@Controller('admin')
@Authenticated('support')
export class DiagnosticsAdminController {
  constructor(private readonly diagnostics: DiagnosticsService) {}

  @Get('explain')
  @ApiOperation({
    summary: 'Explain one conversion: by `click_id`, or by `order_id` and `partner_id` (support key).',
    description:
      'One JSON document: the click (found or not, whose tag, bid id, when, whether a Tag signature would still be valid), ' +
      'each conversion on it, the dedup claims (key, layer, holder, first seen, window end), the refused attempts with ' +
      'their reasons, and each check with its verdict in words to read back to the advertiser. 422 when neither form is given.',
  })
  @ApiResponse({ status: 200, type: ExplainDto })
  @ApiErrors('validation')
  explainConversion(@Query() q: ExplainQueryDto): Promise<ExplainDto> {
    return this.diagnostics.explain(q);
  }

  @Get('partners/:partner_id/diagnostics')
  @ApiOperation({ summary: "A partner's conversions per UTC day, refusals by reason, and alerts (support key)." })
  @ApiParam({ name: 'partner_id', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @ApiResponse({ status: 200, type: DiagnosticsSummaryDto })
  @ApiErrors('partner_not_found', 'validation')
  getPartnerDiagnostics(@Param('partner_id') id: string, @Query() q: SummaryQueryDto): Promise<DiagnosticsSummaryDto> {
    return this.diagnostics.partnerSummary(id, Number(q.days ?? DEFAULT_SUMMARY_DAYS));
  }
}
