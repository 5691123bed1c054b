import {
  Controller,
  Get,
  Header,
  Headers,
  HttpCode,
  Options,
  Post,
  Query,
  Redirect,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ERRORS } from '../../common/errors';
import { ApiErrors } from '../../common/openapi';
import { Public } from '../auth/auth.decorators';
import { ClickRedirectQueryDto } from '../clicks/click.dto';
import { ConversionBody, ConversionCommand } from '../conversions/conversion.command';
import { ConversionResultDto } from '../conversions/conversion.dto';
import { CountConversions, markTestData } from '../observability/conversion-metrics';
import { SignedClickGuard } from './signed-click.guard';
import { TAG_SCRIPT } from './tag-script';
import { TAG_TRANSPORT_FIELDS, TagConversionBodyDto } from './tag.dto';
import { ClickRedirectThrottlerGuard, TagAddressThrottlerGuard, TagClickThrottlerGuard } from './tag-throttler.guard';
import { TagService } from './tag.service';

interface ReplyLike {
  header(name: string, value: string): unknown;
  status(code: number): unknown;
}

function setHeaders(reply: ReplyLike, headers: Record<string, string>): void {
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
}

@ApiTags('tag')
@Controller()
@Public()
export class TagController {
  constructor(private readonly tag: TagService) {}

  @Get('c')
  @Redirect(undefined, 302)
  @Header('Cache-Control', 'no-store')
  @UseGuards(ClickRedirectThrottlerGuard)
  @ApiOperation({
    summary: 'The click redirect: records an ad click and sends the visitor to the landing page (no key).',
    description:
      'Answers 302 to `url` with `thrad_click_id`, `thrad_sig` and `thrad_exp` appended (its query and fragment kept). ' +
      "The destination's origin must be one of the tag's `allowed_origins`: this is never an open redirect. " +
      "A link with a `bid_id` must carry the ad server's `sig` over tag, bid and url (see `sig`); an unsigned or tampered one is a 400. " +
      "A disabled partner's tag is unknown. Rate limited per client address.",
  })
  @ApiResponse({
    status: 302,
    description:
      'To the landing page, e.g. `https://shop.example.com/p/1?utm_source=thrad&thrad_click_id=clk_…&thrad_sig=k…&thrad_exp=1782475200`.',
    headers: {
      Location: { description: 'The landing URL with the signed click appended.', schema: { type: 'string' } },
    },
  })
  @ApiErrors('unknown_tag', 'destination_not_allowed', 'invalid_link_signature', 'validation', 'rate_limited')
  async redirectClick(@Query() query: ClickRedirectQueryDto): Promise<{ url: string }> {
    return { url: await this.tag.redirectClick(query.tag_id, query.bid_id ?? null, query.url, query.sig) };
  }

  @Get('tag.js')
  @ApiOperation({
    summary: 'The Tag: a small dependency-free script for advertisers’ pages (no key).',
    description: `Version ${TAG_SCRIPT.version}. Cacheable (Cache-Control, ETag; If-None-Match answers 304); X-Tag-Version names the version.`,
  })
  @ApiProduces('application/javascript')
  @ApiResponse({
    status: 200,
    description: 'The script.',
    content: { 'application/javascript': { schema: { type: 'string' } } },
  })
  @ApiResponse({ status: 304, description: 'Not modified (If-None-Match matched the ETag).' })
  getTagScript(
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res({ passthrough: true }) reply: ReplyLike,
  ): string {
    setHeaders(reply, {
      'Content-Type': 'application/javascript; charset=utf-8',
      'Cache-Control': 'public, max-age=3600, stale-while-revalidate=86400',
      ETag: TAG_SCRIPT.etag,
      'X-Tag-Version': TAG_SCRIPT.version,
      'X-Content-Type-Options': 'nosniff',
      'Cross-Origin-Resource-Policy': 'cross-origin',
    });
    if (ifNoneMatch?.split(',').some((t) => t.trim() === TAG_SCRIPT.etag || t.trim() === '*')) {
      reply.status(304);
      return '';
    }
    return TAG_SCRIPT.body;
  }

  @Options('api/tag/conversion')
  @HttpCode(204)
  @ApiOperation({ summary: "CORS preflight for the Tag's conversion call: passes for an origin some tag allows." })
  @ApiHeader({ name: 'Origin', required: true, example: 'https://shop.example.com' })
  @ApiHeader({ name: 'Access-Control-Request-Method', required: true, example: 'POST' })
  @ApiResponse({
    status: 204,
    description:
      'Allowed: Access-Control-Allow-Origin echoes the origin; methods POST; headers Content-Type; max age 600 s.',
  })
  @ApiErrors('origin_not_allowed')
  async preflightTagConversion(
    @Headers('origin') origin: string | undefined,
    @Headers('access-control-request-method') method: string | undefined,
    @Res({ passthrough: true }) reply: ReplyLike,
  ): Promise<void> {
    setHeaders(reply, await this.tag.preflightTagConversion(origin, method));
  }

  @Post('api/tag/conversion')
  @HttpCode(200)
  @UseGuards(TagAddressThrottlerGuard, SignedClickGuard, TagClickThrottlerGuard)
  @ApiOperation({
    summary: "The Tag's conversion call: trusted through a signed click instead of an API key.",
    description:
      'The body is `POST /api/conversion`’s plus `sig` and `exp` from the landing URL, as `application/json` or `text/plain` (what `sendBeacon` sends). ' +
      'The signature is checked first (constant time, no database read); then the click, bid, validation, dedup and write path is exactly ' +
      '`POST /api/conversion`\'s, on behalf of the click\'s partner, and the row is marked `source: "tag"`. The Tag and the server API deduplicate ' +
      'against each other: the same `event_id` (or `order_id`) for the same click and event type counts once. A browser request must come from ' +
      "one of the click's tag's `allowed_origins` (CORS). Rate limited per click and per client address.",
  })
  @ApiConsumes('application/json', 'text/plain')
  @ApiBody({ type: TagConversionBodyDto })
  @ApiResponse({
    status: 200,
    type: ConversionResultDto,
    description:
      '`{"status":"ok"}` or, when a duplicate is detected, `{"status":"duplicate"}` (with `conversion_id`, `matched_on`).',
  })
  @ApiResponse({
    status: 401,
    description:
      `The signed click does not verify: \`{"detail":"${ERRORS.invalid_click_signature.detail}"}\` (missing, malformed or forged \`click_id\`/\`sig\`/\`exp\`) ` +
      `or \`{"detail":"${ERRORS.click_signature_expired.detail}"}\` (a genuine signature past \`exp\`). Checked before any database read.`,
    schema: {
      type: 'object',
      required: ['detail'],
      properties: { detail: { type: 'string' } },
      example: { detail: ERRORS.invalid_click_signature.detail },
    },
  })
  @ApiErrors(
    'click_missing_bid',
    'click_origin_not_allowed',
    'click_not_found',
    'payload_too_large',
    'validation',
    'rate_limited',
    'unavailable',
  )
  @CountConversions('tag')
  async createTagConversion(
    @Headers('origin') origin: string | undefined,
    @ConversionBody({ dto: TagConversionBodyDto, transportFields: TAG_TRANSPORT_FIELDS, documented: false })
    command: ConversionCommand,
    @Res({ passthrough: true }) reply: ReplyLike,
    @Req() request: { id?: string },
  ): Promise<ConversionResultDto> {
    const { result, headers } = await this.tag.recordTagConversion(
      command,
      origin,
      () => markTestData(reply),
      request.id ?? null,
    );
    setHeaders(reply, headers);
    return result;
  }
}
