import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, Repository } from 'typeorm';
import { Partner } from './partner.entity';
import { Tag } from './tag.entity';

@Injectable()
export class PartnersRepository {
  private readonly partners: Repository<Partner>;
  private readonly tags: Repository<Tag>;

  constructor(@InjectDataSource() ds: DataSource) {
    this.partners = ds.getRepository(Partner);
    this.tags = ds.getRepository(Tag);
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

  findPartner(id: string): Promise<Partner | null> {
    return this.partners.findOneBy({ id });
  }

  insertTag(t: Tag): Promise<unknown> {
    return this.tags.insert(t);
  }

  findTag(id: string): Promise<Tag | null> {
    return this.tags.findOneBy({ id });
  }

  async tagIdsOfPartner(partnerId: string): Promise<string[]> {
    const rows = await this.tags.find({ select: { id: true }, where: { partner_id: partnerId } });
    return rows.map((r) => r.id);
  }
}
