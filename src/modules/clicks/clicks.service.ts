import { Inject, Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock';
import type { DataMode } from '../../common/data-mode';
import { AppError } from '../../common/errors';
import { parseDateTime } from '../../common/parsers';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { normaliseOrigin, PartnersService } from '../partners/partners.service';
import { Click } from './click.entity';
import { AttachBidDto, ClickView, RegisterClickDto, SignedClickView } from './click.dto';
import { attributionFailure, ClickFacts } from './click-attribution';
import { ClickSigner, SignatureCheck } from './click-signer';
import { ClicksRepository } from './clicks.repository';

export function toClickView(c: Click): ClickView {
  return {
    click_id: c.click_id,
    tag_id: c.tag_id,
    partner_id: c.partner_id,
    bid_id: c.bid_id,
    clicked_at: c.clicked_at.toISOString(),
    landing_url: c.landing_url,
    created_at: c.created_at.toISOString(),
  };
}

export type { ClickFacts } from './click-attribution';

/** Where a signed click may be used from: its partner and its tag's allowed origins. */
export interface ClickAccess {
  partnerId: string;
  allowedOrigins: string[];
  /** A synthetic (test) click's conversions are test data. */
  mode: DataMode;
}

/** The click store: who owns a click, whether it can be attributed, and its signature. */
@Injectable()
export class ClicksService {
  constructor(
    private readonly repo: ClicksRepository,
    private readonly partners: PartnersService,
    private readonly clock: Clock,
    private readonly signer: ClickSigner,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  /** What the Tag needs on the landing URL: the click's expiry (Unix seconds) and its signature. */
  signClick(c: Pick<Click, 'click_id' | 'clicked_at'>): { sig: string; exp: number } {
    const exp = Math.floor((c.clicked_at.getTime() + this.config.clickTtlMs) / 1000);
    return { sig: this.signer.sign(c.click_id, exp), exp };
  }

  /** Checks a signed click without touching the database (constant time; see ClickSigner). */
  verifyClickSignature(clickId: unknown, sig: unknown, exp: unknown): SignatureCheck {
    return this.signer.verify(clickId, sig, exp, this.clock.now().getTime());
  }

  /** The partner and allowed origins of a click's tag, or null when there is no such click (or its partner is disabled). */
  async accessOfClick(clickId: string): Promise<ClickAccess | null> {
    const click = await this.repo.findTagOf(clickId);
    const access = click === null ? null : await this.partners.tagAccess(click.tag_id);
    return (
      access && { partnerId: access.partnerId, allowedOrigins: access.allowedOrigins, mode: click!.mode ?? 'live' }
    );
  }

  /**
   * The click redirect: records a click and returns where to send the visitor, the landing URL
   * with thrad_click_id, thrad_sig and thrad_exp appended (its query and fragment kept). The
   * destination's origin must be one of the tag's allowed origins: never an open redirect.
   * The link's signature is TagService's to check, before this is called. A disabled partner's tag is unknown here.
   */
  async registerRedirectClick(tagId: string, bidId: string | null, url: string): Promise<string> {
    const access = await this.partners.tagAccess(tagId);
    if (!access) throw new AppError('unknown_tag');
    const dest = new URL(url);
    const origin = normaliseOrigin(dest.origin);
    if (dest.username || dest.password || !origin || !access.allowedOrigins.includes(origin)) {
      throw new AppError('destination_not_allowed');
    }
    const now = this.clock.now();
    const click: Click = {
      click_id: `clk_${randomBytes(16).toString('base64url')}`,
      tag_id: tagId,
      partner_id: access.partnerId,
      bid_id: bidId,
      clicked_at: now,
      landing_url: dest.href,
      created_at: now,
      mode: 'live',
    };
    await this.repo.insertNew(click);
    const { sig, exp } = this.signClick(click);
    const ours = `thrad_click_id=${encodeURIComponent(click.click_id)}&thrad_sig=${encodeURIComponent(sig)}&thrad_exp=${exp}`;
    // Setting search (not searchParams) keeps the existing query exactly as it was encoded.
    const query = dest.search.length > 1 ? dest.search.slice(1) : '';
    dest.search = query && !query.endsWith('&') ? `${query}&${ours}` : `${query}${ours}`;
    return dest.href;
  }

  async registerClick(dto: RegisterClickDto): Promise<SignedClickView> {
    // A disabled partner's tag takes no clicks: it is answered as an unknown one (never reveal more).
    const partnerId = (await this.partners.tagAccess(dto.tag_id))?.partnerId;
    if (!partnerId) {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body', 'tag_id'],
          msg: 'Value error, unknown tag',
          input: dto.tag_id,
          ctx: { error: 'unknown tag' },
        },
      ]);
    }
    const now = this.clock.now();
    const clickedAt = dto.clicked_at != null ? (parseDateTime(dto.clicked_at) as { date: Date }).date : now;
    const click: Click = {
      click_id: dto.click_id ?? `clk_${randomBytes(16).toString('base64url')}`,
      tag_id: dto.tag_id,
      partner_id: partnerId,
      bid_id: dto.bid_id ?? null,
      clicked_at: clickedAt,
      landing_url: dto.landing_url ?? null,
      created_at: now,
      mode: 'live',
    };
    const stored = await this.repo.insertIfAbsent(click);
    // Re-posting the same click is not an error; reusing its id for a different click is.
    const same =
      stored.tag_id === click.tag_id &&
      (dto.bid_id == null || stored.bid_id === click.bid_id) &&
      (dto.clicked_at == null || stored.clicked_at.getTime() === clickedAt.getTime()) &&
      (dto.landing_url == null || stored.landing_url === click.landing_url);
    if (!same) throw new AppError('click_conflict');
    return this.toSignedClickView(stored);
  }

  /**
   * The sandbox: a synthetic (test) click on one of the partner's own tags, signed as the Tag's
   * clicks are. Only test keys' conversions (and the Tag's) are attributable to it. Another
   * partner's tag (or a disabled partner's) is answered as an unknown one: never reveal it exists.
   */
  async registerTestClick(
    partnerId: string,
    dto: { tag_id: string; bid_id?: string | null; clicked_at?: string | null },
  ): Promise<SignedClickView> {
    const access = await this.partners.tagAccess(dto.tag_id);
    if (!access || access.partnerId !== partnerId) {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body', 'tag_id'],
          msg: 'Value error, unknown tag',
          input: dto.tag_id,
          ctx: { error: 'unknown tag' },
        },
      ]);
    }
    const now = this.clock.now();
    const click: Click = {
      click_id: `clk_test_${randomBytes(16).toString('base64url')}`,
      tag_id: dto.tag_id,
      partner_id: partnerId,
      bid_id: dto.bid_id ?? null,
      clicked_at: dto.clicked_at != null ? (parseDateTime(dto.clicked_at) as { date: Date }).date : now,
      landing_url: null,
      created_at: now,
      mode: 'test',
    };
    await this.repo.insertNew(click);
    return this.toSignedClickView(click);
  }

  /** The ingest key's view of a click: the stored click with its signature. */
  private toSignedClickView(c: Click): SignedClickView {
    return { ...toClickView(c), ...this.signClick(c) };
  }

  async attachBid(clickId: string, dto: AttachBidDto): Promise<SignedClickView> {
    const click = await this.repo.findById(clickId);
    if (!click || !(await this.partners.tagAccess(click.tag_id))) throw new AppError('click_not_found');
    if (click.bid_id === dto.bid_id) return this.toSignedClickView(click);
    if (click.bid_id !== null || !(await this.repo.setBidIfMissing(clickId, dto.bid_id))) {
      throw new AppError('bid_conflict');
    }
    return this.toSignedClickView({ ...click, bid_id: dto.bid_id });
  }

  /** The click, for readers (admin and support); null when there is none. */
  async findClick(clickId: string): Promise<ClickView | null> {
    const c = await this.repo.findById(clickId);
    return c ? toClickView(c) : null;
  }

  /** Several clicks, for readers (the webhook dispatcher's round): by click_id. */
  async findClicks(clickIds: readonly string[]): Promise<Map<string, ClickView>> {
    return new Map((await this.repo.findByIds(clickIds)).map((c) => [c.click_id, toClickView(c)]));
  }

  /** 404 unless the click exists and is the caller's partner's (never reveal another's); 400 without a bid. */
  assertAttributable(facts: ClickFacts, partnerId: string, mode: DataMode): void {
    const failure = attributionFailure(facts, partnerId, mode);
    if (failure === 'click_not_found') throw new AppError('click_not_found');
    if (failure === 'click_missing_bid') throw new AppError('click_missing_bid');
  }
}
