import { Clock } from '../../common/clock';
import type { AppConfig } from '../../config/app-config';
import type { TransactionScope } from '../../database/transaction-scope';
import type { AuditService } from '../audit/audit.service';
import type { ConversionReadsService } from '../conversions/conversion-reads.service';
import { MAX_RETRY_DELAY_MS, retryAfterMs, retryDelayMs, WebhookDispatcher } from './webhook-dispatcher';
import type { WebhooksRepository } from './webhooks.repository';
import type { WebhooksService } from './webhooks.service';

describe('retry schedule', () => {
  it('grows 4-fold from the base, capped at 6 h, with ±25% jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, 5000, mid))).toEqual([
      5000,
      20000,
      80000,
      320000,
      1280000,
      5120000,
      20480000,
      MAX_RETRY_DELAY_MS,
    ]);
    expect(retryDelayMs(1, 5000, () => 0)).toBe(3750);
    expect(retryDelayMs(1, 5000, () => 0.999999)).toBe(6250);
  });

  it('covers at least 24 hours before giving up (the sum of the delays with the lowest jitter)', () => {
    let total = 0;
    let n = 0;
    while (total < 26 * 3_600_000) total += retryDelayMs(++n, 5000, () => 0);
    expect(n).toBeLessThan(20);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded', () => {
    const now = new Date('2026-05-26T12:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Tue, 26 May 2026 12:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Tue, 26 May 2026 11:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('99999999', now)).toBe(24 * 3_600_000);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('WebhookDispatcher rounds', () => {
  const POLL_MS = 1000;
  const CONCURRENCY = 16;

  /** A dispatcher over an endless backlog (every claim full) whose endpoints are gone, so each round ends at once. */
  function dispatcher(busy: boolean) {
    const claimDue = jest.fn(async (_now: Date, _lease: Date, limit: number) =>
      Array.from({ length: limit }, (_, i) => ({
        click_id: 'clk',
        id: `msg_${i}`,
        endpoint_id: 'gone',
        partner_id: 'p',
        conversion_id: `c${i}`,
        type: 'conversion.created',
        attempts: 1,
        created_at: new Date(0),
        cycle_started_at: new Date(0),
        body: null,
      })),
    );
    const repo = { claimDue, findEndpointsByIds: jest.fn(async () => []), recordAttempts: jest.fn() };
    const reads = { getConversionsByKeys: jest.fn(async () => new Map()) };
    const config = {
      webhookConcurrency: CONCURRENCY,
      webhookPollMs: POLL_MS,
      webhookLeaseMs: 30_000,
      webhookBusyElu: 0.8,
      webhookDispatcher: true,
    } as unknown as AppConfig;
    const d = new WebhookDispatcher(
      repo as unknown as WebhooksRepository,
      {} as WebhooksService,
      reads as unknown as ConversionReadsService,
      {} as AuditService,
      {} as TransactionScope,
      new Clock(),
      config,
    );
    d.load = { isBusy: () => busy };
    return { d, claimDue };
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('follows a full claim with the next round at once while the process is not busy with ingest', async () => {
    const { d, claimDue } = dispatcher(false);
    d.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(2.5 * POLL_MS);
    expect(claimDue.mock.calls.length).toBeGreaterThan(50);
    await d.onModuleDestroy();
  });

  it('waits WEBHOOK_POLL_MS between rounds while the process is busy with ingest, and still takes one per interval', async () => {
    const { d, claimDue } = dispatcher(true);
    d.onApplicationBootstrap();
    await jest.advanceTimersByTimeAsync(2.5 * POLL_MS);
    // At boot, then after one and two intervals: the backlog waits, it is not dropped.
    expect(claimDue.mock.calls.length).toBe(3);
    await d.onModuleDestroy();
  });
});
