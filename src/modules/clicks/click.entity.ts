import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';
import type { DataMode } from '../../common/data-mode';
import { Tag } from '../partners/tag.entity';

@Entity('clicks')
@Index('IDX_clicks_tag', ['tag_id'])
@Index('IDX_clicks_test_created', ['created_at'], { where: "mode = 'test'" })
export class Click {
  @PrimaryColumn({ type: 'varchar', length: 255 })
  click_id: string;

  @Column({ type: 'varchar', length: 36 })
  tag_id: string;

  @ManyToOne(() => Tag, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'tag_id', foreignKeyConstraintName: 'FK_clicks_tag' })
  tag?: Tag;

  /** Denormalised from the tag, so ownership is checked without a join on the hot path. */
  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  bid_id: string | null;

  @Column({ ...TIMESTAMP })
  clicked_at: Date;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  landing_url: string | null;

  @Column({ ...TIMESTAMP })
  created_at: Date;

  /** `test` for a synthetic click (POST /api/test/clicks): only test keys' conversions are attributed to it. */
  @Column({ type: 'varchar', length: 4, default: 'live' })
  mode?: DataMode;
}
