import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { AdjustmentRecord, NetState } from './adjustments.repository';

/** What an adjustment just recorded: the conversion's net state after it, and the row written. */
export interface ConversionAdjustedEvent {
  conversion_id: string;
  partner_id: string;
  click_id: string;
  adjustment: AdjustmentRecord;
  /** The conversion's net state after it (unchanged when `adjustment.outcome` is `more_recent_adjustment`). */
  state: NetState;
}

/**
 * Called inside the adjustment's transaction, after the conversion's state and the adjustment row
 * are written and before the commit, with that transaction's EntityManager: whatever it writes
 * (an outbox row for `conversion.adjusted`) commits or rolls back with the adjustment. It is not
 * called for a duplicate or a refused adjustment (nothing was written). On SQLite it must write
 * through `manager` only (no other I/O), so the transaction stays one turn of the event loop.
 *
 * The default does nothing; a module that needs the event provides its own `AdjustmentEvents`.
 */
@Injectable()
export class AdjustmentEvents {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  async adjusted(manager: EntityManager, event: ConversionAdjustedEvent): Promise<void> {}
}
