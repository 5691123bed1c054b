import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { loadConfig } from '../../config/app-config';
import { ClicksService } from '../clicks/clicks.service';
import { DedupService } from '../dedup/dedup.service';
import { MetricsService } from '../observability/metrics.service';
import { strictMock } from '../../../test/strict-mock';
import { toConversionCommand } from './conversion.command';
import { RecordOutcome } from './conversions.repository';
import { ConversionsService } from './conversions.service';

describe('ConversionsService.record outcomes', () => {
  const body = {
    click_id: 'clk_1',
    conversion_time: '2026-05-26T12:34:56Z',
    conversion_value: '10',
    currency: 'usd',
    order_id: 'o1',
  };
  const click = { found: true, partner_id: 'p1', has_bid: true, mode: 'live' as const };

  function service(outcome: Partial<RecordOutcome> & { claimed_id: string | null; inserted_id: string | null }) {
    const repo = { recordAtomically: jest.fn().mockResolvedValue({ click, ...outcome }) };
    const metrics = strictMock(MetricsService);
    metrics.attribution.mockReturnValue(undefined);
    const clicks = new ClicksService({} as never, {} as never, new Clock(), {} as never, loadConfig({}));
    const svc = new ConversionsService(
      repo as never,
      clicks,
      new DedupService(loadConfig({})),
      { attributionOf: async () => ({ attribution_window_days: null, attribution_policy: 'flag' }) } as never,
      new Clock(),
      loadConfig({}),
      metrics,
    );
    return { svc, repo, metrics };
  }

  it('answers ok with the written id, after normalising the row', async () => {
    const { svc, repo } = service({ claimed_id: 'X', inserted_id: 'X' });
    await expect(
      svc.record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never)),
    ).resolves.toEqual({
      status: 'ok',
      conversion_id: 'X',
    });
    const row = repo.recordAtomically.mock.calls[0][0];
    expect(row).toMatchObject({
      currency: 'USD',
      conversion_value: '10',
      dedup_key: 'o1',
      dedup_layer: 'order_id',
      event_type: 'purchase_completed',
    });
  });

  it('answers duplicate with the matched id and layer', async () => {
    const { svc } = service({ claimed_id: 'EARLIER', inserted_id: null });
    await expect(
      svc.record(
        { partnerId: 'p1', source: 'api', mode: 'live', idempotencyKey: 'k' },
        toConversionCommand(body as never),
      ),
    ).resolves.toEqual({
      status: 'duplicate',
      conversion_id: 'EARLIER',
      matched_on: 'idempotency_key',
    });
  });

  it('answers a retryable 503, never a 500, when nothing was written and no claim could be named', async () => {
    const { svc } = service({ claimed_id: null, inserted_id: null });
    const err = await svc
      .record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'unavailable', headers: { 'Retry-After': '2' } });
  });

  const matched = {
    conversion_value: '10',
    currency: 'USD',
    conversion_time: new Date('2026-05-26T12:34:56Z'),
    tag_id: 'T1',
    source: 'api' as const,
  };

  it('a duplicate of the same payload is plain (no metric)', async () => {
    const { svc } = service({ claimed_id: 'EARLIER', inserted_id: null, matched, tag_id: 'T1' });
    await expect(
      svc.record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never)),
    ).resolves.toEqual({
      status: 'duplicate',
      conversion_id: 'EARLIER',
      matched_on: 'order_id',
    });
  });

  it('names each money field that differs from the matched conversion, and counts them', async () => {
    const other = { ...matched, conversion_value: '10.5', currency: 'EUR', conversion_time: new Date(0), tag_id: 'T2' };
    const { svc, metrics } = service({ claimed_id: 'EARLIER', inserted_id: null, matched: other, tag_id: 'T1' });
    metrics.payloadMismatch.mockReturnValue(undefined);
    await expect(
      svc.record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never)),
    ).resolves.toEqual({
      status: 'duplicate',
      conversion_id: 'EARLIER',
      matched_on: 'order_id',
      payload_mismatch: ['conversion_value', 'currency', 'conversion_time', 'tag_id'],
    });
    expect(metrics.payloadMismatch).toHaveBeenCalledWith(['conversion_value', 'currency', 'conversion_time', 'tag_id']);
  });

  it('a superseding server conversion answers superseded "tag", is counted, and is no mismatch', async () => {
    const tagRow = { ...matched, conversion_value: '0.01', source: 'tag' as const };
    const { svc, metrics } = service({
      claimed_id: 'TAG',
      inserted_id: null,
      matched: tagRow,
      tag_id: 'T1',
      superseded: true,
    });
    metrics.conversionSuperseded.mockReturnValue(undefined);
    await expect(
      svc.record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never)),
    ).resolves.toEqual({
      status: 'duplicate',
      conversion_id: 'TAG',
      matched_on: 'order_id',
      superseded: 'tag',
    });
    expect(metrics.conversionSuperseded).toHaveBeenCalledWith('tag');
  });

  it('a Tag row read before a concurrent server conversion superseded it is not compared', async () => {
    const tagRow = { ...matched, conversion_value: '0.01', source: 'tag' as const };
    const { svc } = service({ claimed_id: 'TAG', inserted_id: null, matched: tagRow, tag_id: 'T1', superseded: false });
    await expect(
      svc.record({ partnerId: 'p1', source: 'api', mode: 'live' }, toConversionCommand(body as never)),
    ).resolves.toEqual({
      status: 'duplicate',
      conversion_id: 'TAG',
      matched_on: 'order_id',
    });
  });

  describe('validate-only', () => {
    function readOnlyService(outcome: { click?: typeof click; claimed_id: string | null }) {
      const repo = {
        recordAtomically: jest.fn().mockRejectedValue(new Error('validate-only must not write')),
        recordReadOnly: jest.fn().mockResolvedValue({ click, inserted_id: null, ...outcome }),
      };
      const clicks = new ClicksService({} as never, {} as never, new Clock(), {} as never, loadConfig({}));
      const svc = new ConversionsService(
        repo as never,
        clicks,
        new DedupService(loadConfig({})),
        { attributionOf: async () => ({ attribution_window_days: null, attribution_policy: 'flag' }) } as never,
        new Clock(),
        loadConfig({}),
      );
      return { svc, repo };
    }
    const ctx = { partnerId: 'p1', source: 'api' as const, mode: 'live' as const, validateOnly: true };

    it('reads instead of writing, and answers ok without a conversion_id', async () => {
      const { svc, repo } = readOnlyService({ claimed_id: null });
      await expect(svc.record(ctx, toConversionCommand(body as never))).resolves.toEqual({
        status: 'ok',
        validate_only: true,
      });
      expect(repo.recordAtomically).not.toHaveBeenCalled();
      expect(repo.recordReadOnly.mock.calls[0][0]).toMatchObject({ dedup_key: 'o1', currency: 'USD' });
    });

    it('answers duplicate with the held claim and the layer', async () => {
      const { svc } = readOnlyService({ claimed_id: 'HELD' });
      await expect(svc.record(ctx, toConversionCommand(body as never))).resolves.toEqual({
        status: 'duplicate',
        conversion_id: 'HELD',
        matched_on: 'order_id',
        validate_only: true,
      });
    });

    it("answers the click's error by Clicks' rule, as the write does", async () => {
      const { svc } = readOnlyService({
        click: { found: true, partner_id: 'p1', has_bid: false, mode: 'live' as const },
        claimed_id: null,
      });
      await expect(svc.record(ctx, toConversionCommand(body as never))).rejects.toMatchObject({
        code: 'click_missing_bid',
      });
      const other = readOnlyService({
        click: { found: true, partner_id: 'p2', has_bid: true, mode: 'live' as const },
        claimed_id: null,
      });
      await expect(other.svc.record(ctx, toConversionCommand(body as never))).rejects.toMatchObject({
        code: 'click_not_found',
      });
    });
  });
});
