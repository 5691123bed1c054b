import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';

/** One admin write: who, what, when, before/after (never a secret). */
@Entity('audit_log')
@Index('IDX_audit_log_at', ['at', 'id'])
@Index('IDX_audit_log_target', ['target_id', 'at', 'id'])
export class AuditEntry {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ ...TIMESTAMP })
  at: Date;

  /** The API key that made the change. */
  @Column({ type: 'varchar', length: 36 })
  actor_key_id: string;

  @Column({ type: 'varchar', length: 16 })
  actor_role: string;

  /** e.g. partner.rename, key.rotate. */
  @Column({ type: 'varchar', length: 64 })
  action: string;

  @Column({ type: 'varchar', length: 32 })
  target_type: string;

  @Column({ type: 'varchar', length: 255 })
  target_id: string;

  @Column({ type: 'json', nullable: true })
  before: object | null;

  @Column({ type: 'json', nullable: true })
  after: object | null;
}
