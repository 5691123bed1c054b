import { Inject, Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { TtlCache } from '../../common/ttl-cache';
import { afterCommit } from '../../database/transaction-scope';
import { Partner, PartnerAttribution } from './partner.entity';
import { PartnersRepository } from './partners.repository';
import { Tag } from './tag.entity';

/** A partner's attribution settings: window in days (null: ATTRIBUTION_WINDOW) and policy. */
export type { PartnerAttribution };
const DEFAULT_ATTRIBUTION: PartnerAttribution = { attribution_window_days: null, attribution_policy: 'flag' };

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

/** A partner as readers see it: with its state. */
export interface PartnerStateView extends PartnerView {
  disabled_at: string | null;
}

export function toPartnerStateView(p: Partner): PartnerStateView {
  return {
    id: p.id,
    name: p.name,
    disabled_at: p.disabled_at ? p.disabled_at.toISOString() : null,
    created_at: p.created_at.toISOString(),
  };
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
  private readonly rateLimits: TtlCache<string, number | null>;
  private readonly attributions: TtlCache<string, PartnerAttribution>;
  private readonly tagAccessCache: TtlCache<string, TagAccess | null>;
  private readonly anyTagOrigins: TtlCache<'all', Set<string>>;

  constructor(
    private readonly repo: PartnersRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.partnerTags = new TtlCache(config.keyCacheTtlMs);
    this.rateLimits = new TtlCache(config.keyCacheTtlMs);
    this.attributions = new TtlCache(config.keyCacheTtlMs);
    this.tagAccessCache = new TtlCache(config.keyCacheTtlMs);
    this.anyTagOrigins = new TtlCache(config.keyCacheTtlMs, 1);
  }

  /** The partner's own rate limit (null: the default); cached for KEY_CACHE_TTL_MS. */
  async rateLimitOf(partnerId: string): Promise<number | null> {
    return this.rateLimits.getOrLoad(partnerId, async () => (await this.repo.findRateLimit(partnerId)) ?? null);
  }

  /**
   * Sets a partner's own rate limit (null: back to the default) and returns the one it replaces.
   * This replica applies it at once, others within KEY_CACHE_TTL_MS.
   */
  async setRateLimit(partnerId: string, perMinute: number | null): Promise<number | null> {
    const before = await this.repo.findRateLimit(partnerId);
    if (before === undefined || !(await this.repo.setRateLimit(partnerId, perMinute)))
      throw new AppError('partner_not_found');
    afterCommit(() => this.rateLimits.delete(partnerId));
    return before;
  }

  /**
   * The partner's attribution settings (window in days, null: ATTRIBUTION_WINDOW; policy), cached
   * for KEY_CACHE_TTL_MS like the rate limit. An unknown partner reads as the defaults.
   */
  async attributionOf(partnerId: string): Promise<PartnerAttribution> {
    // One read per partner when its entry has expired, however many conversions (a batch's items) ask at once.
    return this.attributions.getOrLoad(
      partnerId,
      async () => (await this.repo.findAttribution(partnerId)) ?? DEFAULT_ATTRIBUTION,
    );
  }

  /** Sets a partner's attribution settings and returns the ones they replace (this replica at once, others within KEY_CACHE_TTL_MS). */
  async setAttribution(partnerId: string, next: PartnerAttribution): Promise<PartnerAttribution> {
    const before = await this.repo.findAttribution(partnerId);
    if (before === undefined || !(await this.repo.setAttribution(partnerId, next)))
      throw new AppError('partner_not_found');
    afterCommit(() => this.attributions.delete(partnerId));
    return before;
  }

  async createPartner(name: string): Promise<PartnerView> {
    const p: Partner = {
      id: randomUUID(),
      name,
      disabled_at: null,
      created_at: this.clock.now(),
      rate_limit_per_minute: null,
      attribution_window_days: null,
      attribution_policy: 'flag',
    };
    await this.repo.insertPartner(p);
    return toPartnerView(p);
  }

  async createTag(partnerId: string, name: string, allowedOrigins: string[] = []): Promise<TagView> {
    if (!(await this.repo.findPartner(partnerId))) throw new AppError('partner_not_found');
    const t: Tag = {
      id: randomUUID(),
      partner_id: partnerId,
      name,
      allowed_origins: this.normaliseOrigins(allowedOrigins),
      created_at: this.clock.now(),
    };
    await this.repo.insertTag(t);
    afterCommit(() => {
      this.partnerTags.delete(partnerId);
      this.anyTagOrigins.clear();
    });
    return toTagView(t);
  }

  listPartners(): Promise<PartnerStateView[]> {
    return this.repo.listPartners().then((ps) => ps.map(toPartnerStateView));
  }

  /** The partner and its tags, or a 404. */
  async getPartner(id: string): Promise<{ partner: PartnerStateView; tags: TagView[] }> {
    const p = await this.repo.findPartner(id);
    if (!p) throw new AppError('partner_not_found');
    return { partner: toPartnerStateView(p), tags: (await this.repo.tagsOfPartner(id)).map(toTagView) };
  }

  /** Renames a partner; returns it before and after. */
  async renamePartner(id: string, name: string): Promise<{ before: PartnerStateView; after: PartnerStateView }> {
    const p = await this.repo.findPartner(id);
    if (!p) throw new AppError('partner_not_found');
    if (p.name !== name) await this.repo.renamePartner(id, name);
    return { before: toPartnerStateView(p), after: toPartnerStateView({ ...p, name }) };
  }

  /**
   * Disables (or re-enables) a partner. A disabled partner's keys stop working: the key lookup
   * reads partners.disabled_at; the caller must also drop the keys from the auth cache. Its tags
   * stop working on the keyless paths too (the click redirect, click registration, the Tag):
   * this process forgets their cached access at once, other replicas within KEY_CACHE_TTL_MS.
   */
  async setPartnerDisabled(
    id: string,
    disabled: boolean,
  ): Promise<{ before: PartnerStateView; after: PartnerStateView }> {
    const p = await this.repo.findPartner(id);
    if (!p) throw new AppError('partner_not_found');
    let at = p.disabled_at;
    if (disabled && !at) at = this.clock.now();
    if (!disabled) at = null;
    if ((at?.getTime() ?? null) !== (p.disabled_at?.getTime() ?? null)) await this.repo.setPartnerDisabledAt(id, at);
    // After the commit, so a reader between the write and the commit cannot re-cache the old state.
    afterCommit(() => {
      this.tagAccessCache.deleteWhere((a) => a?.partnerId === id);
      this.anyTagOrigins.clear();
    });
    return { before: toPartnerStateView(p), after: toPartnerStateView({ ...p, disabled_at: at }) };
  }

  /** Renames a tag and/or replaces its allowed origins; returns it before and after. */
  async updateTag(
    id: string,
    changes: { name?: string; allowed_origins?: string[] },
  ): Promise<{ before: TagView; after: TagView }> {
    const t = await this.repo.findTag(id);
    if (!t) throw new AppError('tag_not_found');
    const next: Tag = { ...t };
    if (changes.name !== undefined) next.name = changes.name;
    if (changes.allowed_origins !== undefined) next.allowed_origins = this.normaliseOrigins(changes.allowed_origins);
    await this.repo.updateTag(id, { name: next.name, allowed_origins: next.allowed_origins });
    // Origins changed: this process forgets them at once; other replicas within KEY_CACHE_TTL_MS.
    afterCommit(() => {
      this.tagAccessCache.delete(id);
      this.anyTagOrigins.clear();
    });
    return { before: toTagView(t), after: toTagView(next) };
  }

  private normaliseOrigins(allowedOrigins: string[]): string[] {
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
    return origins;
  }

  async partnerExists(partnerId: string): Promise<boolean> {
    return (await this.repo.findPartner(partnerId)) !== null;
  }

  /** The partner that owns a tag, or null when there is no such tag (whatever the partner's state). */
  async ownerOfTag(tagId: string): Promise<string | null> {
    let owner = this.tagOwner.get(tagId);
    if (owner === undefined) {
      owner = (await this.repo.findTag(tagId))?.partner_id ?? null;
      if (owner) this.tagOwner.set(tagId, owner);
    }
    return owner;
  }

  /**
   * A tag's owner and allowed origins (cached like the partner's tag list), or null for no such tag
   * or a tag of a disabled partner: the keyless paths treat the two alike.
   */
  async tagAccess(tagId: string): Promise<TagAccess | null> {
    let access = this.tagAccessCache.get(tagId);
    if (access === undefined) {
      const row = await this.repo.findActiveTagAccess(tagId);
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
