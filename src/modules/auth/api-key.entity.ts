import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { TIMESTAMP } from '../../database/column-types';
import type { DataMode } from '../../common/data-mode';
import { Partner } from '../partners/partner.entity';

export const ROLES = ['partner', 'ingest', 'support', 'admin'] as const;
export type Role = (typeof ROLES)[number];

@Entity('api_keys')
@Index('UQ_api_keys_hash', ['key_hash'], { unique: true })
@Index('IDX_api_keys_partner', ['partner_id'])
export class ApiKey {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 16 })
  role: Role;

  @Column({ type: 'varchar', length: 36, nullable: true })
  partner_id: string | null;

  @ManyToOne(() => Partner, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'partner_id', foreignKeyConstraintName: 'FK_api_keys_partner' })
  partner?: Partner;

  @Column({ type: 'varchar', length: 255, nullable: true })
  name: string | null;

  /** For people to tell keys apart: a generated key's role prefix and 5 random characters, or for a supplied secret thr_ak_[h:…] (never part of it). */
  @Column({ type: 'varchar', length: 24 })
  prefix: string;

  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  @Column({ type: 'varchar', length: 64 })
  key_hash: string;

  @Column({ ...TIMESTAMP })
  created_at: Date;

  /** Set when a rotation gives the old secret a grace period. */
  @Column({ ...TIMESTAMP, nullable: true })
  expires_at: Date | null;

  @Column({ ...TIMESTAMP, nullable: true })
  revoked_at: Date | null;

  @Column({ ...TIMESTAMP, nullable: true })
  last_used_at: Date | null;

  /** `test` for a sandbox partner key (secret `thr_test_…`): it writes and reads test data only. */
  @Column({ type: 'varchar', length: 4, default: 'live' })
  mode?: DataMode;
}
