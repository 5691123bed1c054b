import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { AppError } from '../../common/errors';
import { Authenticated, CurrentPrincipal, partnerOf } from '../auth/auth.decorators';
import type { Principal } from '../auth/principal';
import { ConversionPageDto, ListOwnConversionsQueryDto } from './conversion-query.dto';
import { ConversionReadsService } from './conversion-reads.service';

@ApiTags('conversions')
@Controller('api')
export class ConversionReadsController {
  constructor(private readonly reads: ConversionReadsService) {}

  @Get('conversions')
  @Authenticated('partner')
  @ApiOperation({
    summary: 'List your own conversions (partner key), newest first, to reconcile your orders.',
    description:
      "Only the calling partner's conversions are ever listed. Filters combine with AND. Pagination is by cursor: " +
      'pass `next_cursor` back as `cursor` until it is null. A row recorded while you page never makes you miss or ' +
      'repeat a row that existed when you started.',
  })
  @ApiResponse({ status: 200, type: ConversionPageDto })
  @ApiErrors('mode_not_allowed', 'validation')
  listOwnConversions(
    @CurrentPrincipal() principal: Principal,
    @Query() query: ListOwnConversionsQueryDto,
  ): Promise<ConversionPageDto> {
    // A key reads its own mode's data only: a live key never test data, a test key never live data.
    if (query.mode !== undefined && query.mode !== principal.mode) throw new AppError('mode_not_allowed');
    return this.reads.listConversions({ ...query, mode: principal.mode }, partnerOf(principal));
  }
}
