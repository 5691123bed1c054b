import type { DataMode } from '../../common/data-mode';
import type { Role } from './api-key.entity';

/** Who is calling, as the guard established it. */
export interface Principal {
  keyId: string;
  role: Role;
  /** Set for, and only for, partner keys. */
  partnerId: string | null;
  /** `test` for a sandbox partner key: it writes and reads test data only. */
  mode: DataMode;
}
