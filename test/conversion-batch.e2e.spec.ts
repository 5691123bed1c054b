import { DataSource } from 'typeorm';
import { conversionBody, makeClick, Res, SEED_TIME_WARNING } from './api-client';
import { useTestApp } from './test-app';

/*
 * Conversions that arrive together share one database statement or transaction (group commit).
 * Every one of them must still get its own answer, as if it had come alone: a batch mixing new
 * conversions, retries, keyless ones, in-batch repeats of one key, unknown clicks, another
 * partner's click and a click without a bid.
 */
describe('POST /api/conversion: concurrent requests answered one by one (e2e)', () => {
  const {
    t,
    api,
    partners: [f, other],
  } = useTestApp({ partners: 2 });
  let ds: DataSource;

  beforeAll(() => {
    ds = t.app.get(DataSource);
  });

  const rows = async (click: string): Promise<{ id: string; dedup_key: string | null; order_id: string | null }[]> =>
    ds.query(
      ds.options.type === 'postgres'
        ? 'SELECT id, dedup_key, order_id FROM conversions WHERE click_id = $1'
        : 'SELECT id, dedup_key, order_id FROM conversions WHERE click_id = ?',
      [click],
    );

  it('answers a mixed crowd of 60 requests each as if it came alone, and writes exactly the rows answered ok', async () => {
    const clicks = await Promise.all(Array.from({ length: 4 }, () => makeClick(api, f)));
    const noBid = await makeClick(api, f, { bid_id: null });
    const foreign = await makeClick(api, other);
    const retried = await api.post('/api/conversion', conversionBody(clicks[0], { order_id: 'earlier' }), f.partnerKey);
    expect(retried.body.status).toBe('ok');

    type Case = { body: Record<string, unknown>; expect: (r: Res) => void };
    const cases: Case[] = [];
    for (let i = 0; i < 20; i++) {
      cases.push({
        body: conversionBody(clicks[i % 4], { order_id: `new-${i}` }),
        expect: (r) =>
          expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING }),
      });
    }
    for (let i = 0; i < 5; i++) {
      cases.push({
        body: conversionBody(clicks[0], { order_id: 'earlier' }),
        expect: (r) =>
          expect(r.body).toEqual({
            status: 'duplicate',
            conversion_id: retried.body.conversion_id,
            matched_on: 'order_id',
            ...SEED_TIME_WARNING,
          }),
      });
    }
    for (let i = 0; i < 10; i++)
      cases.push({
        body: conversionBody(clicks[1]),
        expect: (r) =>
          expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING }),
      });
    const repeated: Res[] = [];
    for (let i = 0; i < 10; i++)
      cases.push({ body: conversionBody(clicks[2], { event_id: 'same-event' }), expect: (r) => repeated.push(r) });
    for (let i = 0; i < 5; i++)
      cases.push({
        body: conversionBody(`clk_unknown_${i}`, { order_id: `u-${i}` }),
        expect: (r) => expect([r.status, r.body]).toEqual([404, { detail: 'Click not found' }]),
      });
    for (let i = 0; i < 5; i++)
      cases.push({
        body: conversionBody(foreign, { order_id: `f-${i}` }),
        expect: (r) => expect([r.status, r.body]).toEqual([404, { detail: 'Click not found' }]),
      });
    for (let i = 0; i < 5; i++)
      cases.push({
        body: conversionBody(noBid, { order_id: `b-${i}` }),
        expect: (r) => expect([r.status, r.body]).toEqual([400, { detail: 'Click missing bid id' }]),
      });

    const answers = await Promise.all(cases.map((c) => api.post('/api/conversion', c.body, f.partnerKey)));
    answers.forEach((r, i) => cases[i].expect(r));

    // Ten requests with one key in the crowd: one ok, nine duplicates naming it.
    const oks = repeated.filter((r) => r.body.status === 'ok');
    expect(oks).toHaveLength(1);
    for (const r of repeated)
      if (r !== oks[0])
        expect(r.body).toEqual({
          status: 'duplicate',
          conversion_id: oks[0].body.conversion_id,
          matched_on: 'event_id',
          ...SEED_TIME_WARNING,
        });

    // Exactly the rows answered ok (plus the earlier one), no more.
    const answeredOk = new Set(
      answers.filter((r) => r.body.status === 'ok').map((r) => r.body.conversion_id as string),
    );
    expect(answeredOk.size).toBe(20 + 10 + 1);
    const written = (await Promise.all(clicks.map(rows))).flat();
    expect(new Set(written.map((w) => w.id))).toEqual(new Set([...answeredOk, retried.body.conversion_id]));
    expect(await rows(noBid)).toEqual([]);
    expect(await rows(foreign)).toEqual([]);
  });
});
