import { Injectable, Optional } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { WebhookOutbox } from '../webhook-outbox/webhook-outbox';
import type { AdjustmentRecord, NetState } from './adjustments.repository';

/** What an adjustment just recorded: the conversion's net state after it, and the row written. */
export interface ConversionAdjustedEvent {
  conversion_id: string;
  partner_id: string;
  click_id: string;
  /** The conversion's data mode (a test key's sandbox conversion: its event is a `test` message). */
  mode: 'live' | 'test';
  adjustment: AdjustmentRecord;
  /** The conversion's net state after it (unchanged when `adjustment.outcome` is `more_recent_adjustment`). */
  state: NetState;
}

/**
 * Called inside the adjustment's transaction, after the conversion's state and the adjustment row
 * are written and before the commit, with that transaction's EntityManager: the outbox row for
 * `conversion.adjusted` it writes commits or rolls back with the adjustment (issue 13's
 * transactional outbox). It is not called for a duplicate or a refused adjustment (nothing was
 * written). An adjustment recorded as `more_recent_adjustment` changed nothing, so it sends nothing.
 * On SQLite it writes through `manager` only (no other I/O), so the transaction stays one turn of
 * the event loop. Partners without an enabled endpoint pay one in-process set lookup.
 */
@Injectable()
export class AdjustmentEvents {
  constructor(@Optional() private readonly outbox?: WebhookOutbox) {}

  async adjusted(manager: EntityManager, event: ConversionAdjustedEvent): Promise<void> {
    if (event.adjustment.outcome !== 'applied') return;
    if (!this.outbox?.hasEndpoints(event.partner_id)) return;
    await this.outbox.enqueue(manager, [
      {
        type: 'conversion.adjusted',
        conversion_id: event.conversion_id,
        click_id: event.click_id,
        partner_id: event.partner_id,
        mode: event.mode,
        at: event.adjustment.created_at,
      },
    ]);
  }
}
