import { DedupService } from './dedup.service';
import { loadConfig } from '../../config/app-config';

describe('DedupService', () => {
  const svc = new DedupService(loadConfig({ DEDUP_WINDOW: '7d' }));

  it('prefers the Idempotency-Key header over event_id and order_id', () => {
    expect(svc.resolveKey({ idempotencyKey: 'h', eventId: 'e', orderId: 'o' })).toEqual({
      value: 'h',
      layer: 'idempotency_key',
    });
  });

  it('falls back to event_id, then order_id', () => {
    expect(svc.resolveKey({ eventId: 'e', orderId: 'o' })).toEqual({ value: 'e', layer: 'event_id' });
    expect(svc.resolveKey({ orderId: 'o' })).toEqual({ value: 'o', layer: 'order_id' });
  });

  it('treats null as absent and has no key when nothing is sent', () => {
    expect(svc.resolveKey({ idempotencyKey: null, eventId: null, orderId: 'o' })).toEqual({
      value: 'o',
      layer: 'order_id',
    });
    expect(svc.resolveKey({})).toBeNull();
  });

  it('keeps the key value whichever layer it came from, so layers match each other', () => {
    expect(svc.resolveKey({ idempotencyKey: 'order_123' })!.value).toBe(
      svc.resolveKey({ orderId: 'order_123' })!.value,
    );
  });

  it('puts the window start exactly one window before now', () => {
    const now = new Date('2026-05-26T12:00:00.000Z');
    expect(svc.windowStart(now)).toBe(now.getTime() - 7 * 86_400_000);
    expect(new DedupService(loadConfig({ DEDUP_WINDOW: '90s' })).windowStart(now)).toBe(now.getTime() - 90_000);
  });
});
