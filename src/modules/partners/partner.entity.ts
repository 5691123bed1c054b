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

  /** Requests per minute per API key of this partner; null: the RATE_LIMIT_PER_MINUTE default; 0: unlimited. */
  @Column({ type: 'integer', nullable: true })
  rate_limit_per_minute: number | null;
}
