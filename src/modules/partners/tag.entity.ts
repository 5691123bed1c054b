import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';
import { Partner } from './partner.entity';

@Entity('tags')
@Index('IDX_tags_partner', ['partner_id'])
export class Tag {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 36 })
  partner_id: string;

  @ManyToOne(() => Partner, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'partner_id', foreignKeyConstraintName: 'FK_tags_partner' })
  partner?: Partner;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  /** Origins (scheme://host[:port]) the Tag may post from and the click redirect may send to. */
  @Column({ type: 'json' })
  allowed_origins: string[];

  @Column({ ...TIMESTAMP })
  created_at: Date;
}
