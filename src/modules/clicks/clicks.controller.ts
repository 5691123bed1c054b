import { Body, Controller, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import { Authenticated } from '../auth/auth.decorators';
import { AttachBidDto, RegisterClickDto, SignedClickView } from './click.dto';
import { ClicksService } from './clicks.service';
import { ApiResponse } from '@nestjs/swagger';

@ApiTags('clicks')
@Controller('api/clicks')
@Authenticated('ingest')
export class ClicksController {
  constructor(private readonly clicks: ClicksService) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Register an ad click (ingest key). Re-posting an identical click is not an error.' })
  @ApiResponse({
    status: 201,
    type: SignedClickView,
    description: 'The stored click, with the `sig` and `exp` the Tag needs on the landing URL.',
  })
  @ApiErrors('click_conflict', 'payload_too_large', 'validation')
  registerClick(@Body() dto: RegisterClickDto): Promise<SignedClickView> {
    return this.clicks.registerClick(dto);
  }

  @Patch(':click_id')
  @ApiOperation({ summary: 'Attach a bid id that arrived after the click (ingest key).' })
  @ApiParam({ name: 'click_id', example: 'clk_xyz' })
  @ApiResponse({
    status: 200,
    type: SignedClickView,
    description: 'The click with its bid id (and its `sig` and `exp`).',
  })
  @ApiErrors('click_not_found', 'bid_conflict', 'validation')
  attachBid(@Param('click_id') clickId: string, @Body() dto: AttachBidDto): Promise<SignedClickView> {
    return this.clicks.attachBid(clickId, dto);
  }
}
