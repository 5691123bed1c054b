import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { parseDateTime } from '../../common/parsers';
import { PartnersService } from '../partners/partners.service';
import { Click } from './click.entity';
import { AttachBidDto, ClickView, RegisterClickDto } from './click.dto';
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

/** What the conversion path learnt about a click, seen through the caller's partner. */
export interface ClickFacts {
  found: boolean;
  partner_id: string | null;
  has_bid: boolean;
}

/** The click store: who owns a click, and whether it can be attributed. */
@Injectable()
export class ClicksService {
  constructor(
    private readonly repo: ClicksRepository,
    private readonly partners: PartnersService,
    private readonly clock: Clock,
  ) {}

  async registerClick(dto: RegisterClickDto): Promise<ClickView> {
    const partnerId = await this.partners.ownerOfTag(dto.tag_id);
    if (!partnerId) {
      throw AppError.validation([
        { type: 'value_error', loc: ['body', 'tag_id'], msg: 'Value error, unknown tag', input: dto.tag_id, ctx: { error: 'unknown tag' } },
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
    };
    const stored = await this.repo.insertIfAbsent(click);
    // Re-posting the same click is not an error; reusing its id for a different click is.
    const same =
      stored.tag_id === click.tag_id &&
      (dto.bid_id == null || stored.bid_id === click.bid_id) &&
      (dto.clicked_at == null || stored.clicked_at.getTime() === clickedAt.getTime()) &&
      (dto.landing_url == null || stored.landing_url === click.landing_url);
    if (!same) throw new AppError('conflict', 'A different click with this click_id is already registered');
    return toClickView(stored);
  }

  async attachBid(clickId: string, dto: AttachBidDto): Promise<ClickView> {
    const click = await this.repo.findById(clickId);
    if (!click) throw new AppError('click_not_found', 'Click not found');
    if (click.bid_id === dto.bid_id) return toClickView(click);
    if (click.bid_id !== null || !(await this.repo.setBidIfMissing(clickId, dto.bid_id))) {
      throw new AppError('conflict', 'The click already has a different bid id');
    }
    return toClickView({ ...click, bid_id: dto.bid_id });
  }

  /** The click, for readers (admin and support); null when there is none. */
  async findClick(clickId: string): Promise<ClickView | null> {
    const c = await this.repo.findById(clickId);
    return c ? toClickView(c) : null;
  }

  /** 404 unless the click exists and is the caller's partner's (never reveal another's); 400 without a bid. */
  assertAttributable(facts: ClickFacts, partnerId: string): void {
    if (!facts.found || facts.partner_id !== partnerId) throw new AppError('click_not_found', 'Click not found');
    if (!facts.has_bid) throw new AppError('click_missing_bid', 'Click missing bid id');
  }
}
