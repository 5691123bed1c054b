import { Column, Entity, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';

@Entity('partners')
export class Partner {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 255 })
  name: string;

  /** A disabled partner's keys stop working. */
  @Column({ ...TIMESTAMP, nullable: true })
  disabled_at: Date | null;

  @Column({ ...TIMESTAMP })
  created_at: Date;
}
