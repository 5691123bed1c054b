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

  findById(clickId: string): Promise<Click | null> {
    return this.repo.findOneBy({ click_id: clickId });
  }

  /** Sets the bid id of a click that has none; false when the click has one already. */
  async setBidIfMissing(clickId: string, bidId: string): Promise<boolean> {
    const res = await this.repo.update({ click_id: clickId, bid_id: IsNull() }, { bid_id: bidId });
    return (res.affected ?? 0) > 0;
  }
}
