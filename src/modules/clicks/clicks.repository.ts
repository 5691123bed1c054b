import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, IsNull, Repository } from 'typeorm';
import { Click } from './click.entity';

@Injectable()
export class ClicksRepository {
  private readonly repo: Repository<Click>;

  constructor(@InjectDataSource() ds: DataSource) {
    this.repo = ds.getRepository(Click);
  }

  /** Inserts the click unless one with its id exists; either way returns what is stored. */
  async insertIfAbsent(click: Click): Promise<Click> {
    await this.repo.createQueryBuilder().insert().into(Click).values(click).orIgnore().execute();
    return (await this.findById(click.click_id))!;
  }

  /** Inserts a click whose id was just generated (the redirect's hot path: one statement). */
  async insertNew(click: Click): Promise<void> {
    await this.repo.createQueryBuilder().insert().into(Click).values(click).execute();
  }

  /** The tag a click belongs to and its mode, or null. */
  async findTagOf(clickId: string): Promise<Pick<Click, 'tag_id' | 'mode'> | null> {
    const row = await this.repo.findOne({ select: { tag_id: true, mode: true }, where: { click_id: clickId } });
    return row ? { tag_id: row.tag_id, mode: row.mode === 'test' ? 'test' : 'live' } : null;
  }

  /** Several clicks in one query (missing ones are absent). */
  findByIds(clickIds: readonly string[]): Promise<Click[]> {
    if (clickIds.length === 0) return Promise.resolve([]);
    return this.repo
      .createQueryBuilder('c')
      .where('c.click_id IN (:...ids)', { ids: [...clickIds] })
      .getMany();
  }

  findById(clickId: string): Promise<Click | null> {
    return this.repo.findOneBy({ click_id: clickId });
  }

  /** Sets the bid id of a click that has none; false when the click has one already. */
  async setBidIfMissing(clickId: string, bidId: string): Promise<boolean> {
    const res = await this.repo.update({ click_id: clickId, bid_id: IsNull() }, { bid_id: bidId });
    return (res.affected ?? 0) > 0;
  }
}
