import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { TtlCache } from '../../common/ttl-cache';
import { Partner } from './partner.entity';
import { PartnersRepository } from './partners.repository';
import { Tag } from './tag.entity';

export interface PartnerView {
  id: string;
  name: string;
  created_at: string;
}

export interface TagView {
  id: string;
  partner_id: string;
  name: string;
  allowed_origins: string[];
  created_at: string;
}

/** What the browser path needs to know about a tag: whose it is and where it may be used. */
export interface TagAccess {
  partnerId: string;
  allowedOrigins: string[];
}

export function toPartnerView(p: Partner): PartnerView {
  return { id: p.id, name: p.name, created_at: p.created_at.toISOString() };
}

export function toTagView(t: Tag): TagView {
  return {
    id: t.id,
    partner_id: t.partner_id,
    name: t.name,
    allowed_origins: t.allowed_origins,
    created_at: t.created_at.toISOString(),
  };
}

/** Normalises an origin to scheme://host[:port], or undefined when it is not an http(s) origin. */
export function normaliseOrigin(value: string): string | undefined {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
    if (u.pathname !== '/' || u.search || u.hash || u.username || u.password) return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/** Partners and their tags. Tags never change partner, so who owns a tag may be cached. */
@Injectable()
export class PartnersService {
  private readonly tagOwner = new TtlCache<string, string | null>(60_000);
  private readonly partnerTags: TtlCache<string, Set<string>>;
  private readonly tagAccessCache: TtlCache<string, TagAccess | null>;
  private readonly anyTagOrigins: TtlCache<'all', Set<string>>;

  constructor(
    private readonly repo: PartnersRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partnerTags = new TtlCache(config.keyCacheTtlMs);
    this.tagAccessCache = new TtlCache(config.keyCacheTtlMs);
    this.anyTagOrigins = new TtlCache(config.keyCacheTtlMs, 1);
  }

  async createPartner(name: string): Promise<PartnerView> {
    const p: Partner = { id: randomUUID(), name, disabled_at: null, created_at: this.clock.now() };
    await this.repo.insertPartner(p);
    return toPartnerView(p);
  }

  async createTag(partnerId: string, name: string, allowedOrigins: string[] = []): Promise<TagView> {
    if (!(await this.repo.findPartner(partnerId))) throw AppError.notFound('Partner');
    const origins: string[] = [];
    allowedOrigins.forEach((o, i) => {
      const n = normaliseOrigin(o);
      if (!n) {
        throw AppError.validation([
          {
            type: 'value_error',
            loc: ['body', 'allowed_origins', i],
            msg: 'Value error, must be an origin like https://shop.example.com',
            input: o,
            ctx: { error: 'must be an origin like https://shop.example.com' },
          },
        ]);
      }
      if (!origins.includes(n)) origins.push(n);
    });
    const t: Tag = { id: randomUUID(), partner_id: partnerId, name, allowed_origins: origins, created_at: this.clock.now() };
    await this.repo.insertTag(t);
    this.partnerTags.delete(partnerId);
    this.anyTagOrigins.clear();
    return toTagView(t);
  }

  async partnerExists(partnerId: string): Promise<boolean> {
    return (await this.repo.findPartner(partnerId)) !== null;
  }

  /** The partner that owns a tag, or null when there is no such tag. */
  async ownerOfTag(tagId: string): Promise<string | null> {
    let owner = this.tagOwner.get(tagId);
    if (owner === undefined) {
      owner = (await this.repo.findTag(tagId))?.partner_id ?? null;
      if (owner) this.tagOwner.set(tagId, owner);
    }
    return owner;
  }

  /** A tag's owner and allowed origins (cached like the partner's tag list), or null for no such tag. */
  async tagAccess(tagId: string): Promise<TagAccess | null> {
    let access = this.tagAccessCache.get(tagId);
    if (access === undefined) {
      const row = await this.repo.findTagAccess(tagId);
      access = row ? { partnerId: row.partner_id, allowedOrigins: row.allowed_origins ?? [] } : null;
      if (access) this.tagAccessCache.set(tagId, access);
    }
    return access;
  }

  /** Whether any tag allows this origin (a CORS preflight carries no click to narrow it down). */
  async isAllowedOriginOfAnyTag(origin: string): Promise<boolean> {
    let all = this.anyTagOrigins.get('all');
    if (!all) {
      all = await this.repo.allAllowedOrigins();
      this.anyTagOrigins.set('all', all);
    }
    return all.has(origin);
  }

  async isPartnerTag(partnerId: string, tagId: string): Promise<boolean> {
    let ids = this.partnerTags.get(partnerId);
    if (!ids) {
      ids = new Set(await this.repo.tagIdsOfPartner(partnerId));
      this.partnerTags.set(partnerId, ids);
    }
    return ids.has(tagId);
  }
}
