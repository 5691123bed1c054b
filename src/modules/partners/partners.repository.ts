import { Injectable } from '@nestjs/common';
import { Repository } from 'typeorm';
import { TransactionScope } from '../../database/transaction-scope';
import { Partner, PartnerAttribution } from './partner.entity';
import { Tag } from './tag.entity';

@Injectable()
export class PartnersRepository {
  private readonly partners: Repository<Partner>;
  private readonly tags: Repository<Tag>;

  constructor(tx: TransactionScope) {
    this.partners = tx.repository(Partner);
    this.tags = tx.repository(Tag);
  }

  insertPartner(p: Partner): Promise<unknown> {
    return this.partners.insert(p);
  }

  /** The partner's own rate limit, or undefined when there is no such partner. */
  async findRateLimit(id: string): Promise<number | null | undefined> {
    const p = await this.partners.findOne({ where: { id }, select: { id: true, rate_limit_per_minute: true } });
    return p ? p.rate_limit_per_minute : undefined;
  }

  async setRateLimit(id: string, perMinute: number | null): Promise<boolean> {
    const r = await this.partners.update({ id }, { rate_limit_per_minute: perMinute });
    return (r.affected ?? 0) > 0;
  }

  async findAttribution(id: string): Promise<PartnerAttribution | undefined> {
    const p = await this.partners.findOne({
      where: { id },
      select: { id: true, attribution_window_days: true, attribution_policy: true },
    });
    return p
      ? {
          attribution_window_days: p.attribution_window_days ?? null,
          attribution_policy: p.attribution_policy ?? 'flag',
        }
      : undefined;
  }

  async setAttribution(id: string, s: PartnerAttribution): Promise<boolean> {
    const r = await this.partners.update({ id }, s);
    return (r.affected ?? 0) > 0;
  }

  findPartner(id: string): Promise<Partner | null> {
    return this.partners.findOneBy({ id });
  }

  insertTag(t: Tag): Promise<unknown> {
    return this.tags.insert(t);
  }

  findTag(id: string): Promise<Tag | null> {
    return this.tags.findOneBy({ id });
  }

  /** The owner and allowed origins of a tag whose partner is not disabled, or null. */
  async findActiveTagAccess(id: string): Promise<{ partner_id: string; allowed_origins: string[] } | null> {
    return this.tags
      .createQueryBuilder('t')
      .select(['t.id', 't.partner_id', 't.allowed_origins'])
      .innerJoin(Partner, 'p', 'p.id = t.partner_id AND p.disabled_at IS NULL')
      .where('t.id = :id', { id })
      .getOne();
  }

  /** Every origin any tag of a partner that is not disabled allows (for CORS preflights, which carry no click). */
  async allAllowedOrigins(): Promise<Set<string>> {
    const rows = await this.tags
      .createQueryBuilder('t')
      .select(['t.id', 't.allowed_origins'])
      .innerJoin(Partner, 'p', 'p.id = t.partner_id AND p.disabled_at IS NULL')
      .getMany();
    return new Set(rows.flatMap((r) => r.allowed_origins ?? []));
  }

  listPartners(): Promise<Partner[]> {
    return this.partners.find({ order: { created_at: 'ASC', id: 'ASC' } });
  }

  tagsOfPartner(partnerId: string): Promise<Tag[]> {
    return this.tags.find({ where: { partner_id: partnerId }, order: { created_at: 'ASC', id: 'ASC' } });
  }

  async renamePartner(id: string, name: string): Promise<void> {
    await this.partners.update({ id }, { name });
  }

  async setPartnerDisabledAt(id: string, at: Date | null): Promise<void> {
    await this.partners.update({ id }, { disabled_at: at });
  }

  async updateTag(id: string, changes: { name?: string; allowed_origins?: string[] }): Promise<void> {
    await this.tags.update({ id }, changes);
  }

  async tagIdsOfPartner(partnerId: string): Promise<string[]> {
    const rows = await this.tags.find({ select: { id: true }, where: { partner_id: partnerId } });
    return rows.map((r) => r.id);
  }
}
