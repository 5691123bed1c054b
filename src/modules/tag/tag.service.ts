import { Injectable } from '@nestjs/common';
import { AppError } from '../../common/errors';
import { ClicksService } from '../clicks/clicks.service';
import type { ConversionCommand } from '../conversions/conversion.command';
import { ConversionResultDto } from '../conversions/conversion.dto';
import { ConversionsService } from '../conversions/conversions.service';
import { normaliseOrigin, PartnersService } from '../partners/partners.service';
import { LinkSigner } from './link-signer';

/** The CORS headers a Tag response carries for an origin the click's tag allows. */
export function corsHeaders(origin: string): Record<string, string> {
  return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
}

export const PREFLIGHT_MAX_AGE_S = 600;

/** The browser path's doors: the click redirect, and the Tag's conversion call. */
@Injectable()
export class TagService {
  constructor(
    private readonly clicks: ClicksService,
    private readonly partners: PartnersService,
    private readonly conversions: ConversionsService,
    private readonly links: LinkSigner,
  ) {}

  /**
   * GET /c: records the click; the Location to send the visitor to. A link carrying a bid id must
   * carry the ad server's signature over tag, bid and url, checked first (constant time, before
   * any database read); a link without one may be signed too, and is then checked the same way.
   */
  async redirectClick(tagId: string, bidId: string | null, url: string, sig?: string): Promise<string> {
    if ((bidId !== null || sig !== undefined) && !this.links.verify(tagId, bidId, url, sig)) {
      throw new AppError('invalid_link_signature');
    }
    return this.clicks.registerRedirectClick(tagId, bidId, url);
  }

  /**
   * POST /api/tag/conversion, its signature already verified (SignedClickGuard). A browser's
   * Origin must be one of the click's tag's allowed origins; then the conversion takes the one
   * path every conversion takes, on behalf of the click's partner, marked source "tag".
   */
  async recordTagConversion(
    command: ConversionCommand,
    origin: string | undefined,
    onTestClick?: () => void,
    requestId: string | null = null,
  ): Promise<{ result: ConversionResultDto; headers: Record<string, string> }> {
    const access = await this.clicks.accessOfClick(command.click_id);
    if (!access) throw new AppError('click_not_found');
    // A synthetic (test) click's conversion is test data, whatever becomes of it.
    if (access.mode === 'test') onTestClick?.();
    let headers: Record<string, string> = {};
    if (origin !== undefined) {
      const o = normaliseOrigin(origin);
      if (!o || !access.allowedOrigins.includes(o)) throw new AppError('click_origin_not_allowed');
      headers = corsHeaders(origin);
    }
    try {
      const result = await this.conversions.record(
        { partnerId: access.partnerId, source: 'tag', idempotencyKey: null, mode: access.mode, keyId: null, requestId },
        command,
      );
      return { result, headers };
    } catch (e) {
      // The page may read why its conversion was refused (400/404/422) once its origin is allowed.
      if (e instanceof AppError) throw new AppError(e.code, e.detail, { ...e.headers, ...headers });
      throw e;
    }
  }

  /**
   * A CORS preflight carries no body, so no click: it passes when some tag allows the origin, and
   * the request itself is then held to its click's tag.
   */
  async preflightTagConversion(
    origin: string | undefined,
    method: string | undefined,
  ): Promise<Record<string, string>> {
    const o = origin === undefined ? undefined : normaliseOrigin(origin);
    if (!o || method?.toUpperCase() !== 'POST' || !(await this.partners.isAllowedOriginOfAnyTag(o))) {
      throw new AppError('origin_not_allowed');
    }
    return {
      ...corsHeaders(origin!),
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': 'Content-Type',
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_S),
    };
  }
}
