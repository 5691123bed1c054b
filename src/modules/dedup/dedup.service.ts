import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import type { DedupLayer } from './dedup-claim.sql';

export type { DedupLayer };

export interface DedupKey {
  /** The key's value, whichever layer it came from (header `order_123` = order_id `order_123`). */
  value: string;
  layer: DedupLayer;
}

/** How a dedup key is chosen, and how long it holds. Nothing else knows. */
@Injectable()
export class DedupService {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  /** Idempotency-Key header, else event_id, else order_id, else none. */
  resolveKey(input: {
    idempotencyKey?: string | null;
    eventId?: string | null;
    orderId?: string | null;
  }): DedupKey | null {
    if (input.idempotencyKey != null) return { value: input.idempotencyKey, layer: 'idempotency_key' };
    if (input.eventId != null) return { value: input.eventId, layer: 'event_id' };
    if (input.orderId != null) return { value: input.orderId, layer: 'order_id' };
    return null;
  }

  /**
   * Claims made at or before this instant (epoch ms) have left the window and no longer match:
   * a key matches while its age is strictly less than the window.
   */
  windowStart(now: Date): number {
    return now.getTime() - this.config.dedupWindowMs;
  }
}
