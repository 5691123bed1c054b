import { DataSource } from 'typeorm';
import { conversionBody, makeClick, Res, SEED_TIME_WARNING } from './api-client';
import { useTestApp } from './test-app';

/*
 * The claim of a dedup key under concurrency, on whichever driver the suite runs: parallel requests
 * on one key, and parallel takeovers of a claim that has left the window. Exactly one `ok` and one
 * row each time; every duplicate names the conversion that won.
 */
describe('POST /api/conversion: racing on one dedup key (e2e)', () => {
  const { t, api, partner: f } = useTestApp({ env: { DEDUP_WINDOW: '1h' } });
  let ds: DataSource;

  beforeAll(() => {
    ds = t.app.get(DataSource);
  });

  /** Rows of one dedup key on one click (the PostgreSQL test database outlives a run). */
  const rowsFor = async (key: string, click: string): Promise<number> => {
    const sql =
      ds.options.type === 'postgres'
        ? 'SELECT COUNT(*) AS n FROM conversions WHERE dedup_key = $1 AND click_id = $2'
        : 'SELECT COUNT(*) AS n FROM conversions WHERE dedup_key = ? AND click_id = ?';
    const r: { n: string | number }[] = await ds.query(sql, [key, click]);
    return Number(r[0].n);
  };

  const burst = (n: number, click: string, key: string): Promise<Res[]> =>
    Promise.all(
      Array.from({ length: n }, () =>
        api.post('/api/conversion', conversionBody(click, { order_id: 'o-1' }), f.partnerKey, {
          'idempotency-key': key,
        }),
      ),
    );

  const expectOneWinner = (answers: Res[], matchedOn = 'idempotency_key'): string => {
    const oks = answers.filter((a) => a.status === 200 && a.body.status === 'ok');
    expect(oks).toHaveLength(1);
    const id = oks[0].body.conversion_id;
    for (const a of answers) {
      if (a === oks[0]) continue;
      expect(a.status).toBe(200);
      expect(a.body).toEqual({ status: 'duplicate', conversion_id: id, matched_on: matchedOn, ...SEED_TIME_WARNING });
    }
    return id;
  };

  it('answers 40 parallel requests on one key with one ok and 39 duplicates, and writes one row', async () => {
    const click = await makeClick(api, f);
    expectOneWinner(await burst(40, click, 'race-1'));
    expect(await rowsFor('race-1', click)).toBe(1);
  });

  it('lets exactly one of 30 parallel requests take over a claim that has left the window', async () => {
    const click = await makeClick(api, f);
    const first = await api.post('/api/conversion', conversionBody(click), f.partnerKey, {
      'idempotency-key': 'race-2',
    });
    expect(first.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
    t.clock.offsetMs += 60 * 60 * 1000; // exactly the window: the claim no longer matches
    const id = expectOneWinner(await burst(30, click, 'race-2'));
    expect(id).not.toBe(first.body.conversion_id);
    expect(await rowsFor('race-2', click)).toBe(2);
    const retry = await api.post('/api/conversion', conversionBody(click), f.partnerKey, {
      'idempotency-key': 'race-2',
    });
    expect(retry.body).toEqual({
      status: 'duplicate',
      conversion_id: id,
      matched_on: 'idempotency_key',
      ...SEED_TIME_WARNING,
    });
  });

  it('still matches a claim one second inside the window', async () => {
    const click = await makeClick(api, f);
    const first = await api.post('/api/conversion', conversionBody(click), f.partnerKey, {
      'idempotency-key': 'race-3',
    });
    expect(first.body.status).toBe('ok');
    t.clock.offsetMs += 60 * 60 * 1000 - 1000;
    const again = await api.post('/api/conversion', conversionBody(click), f.partnerKey, {
      'idempotency-key': 'race-3',
    });
    expect(again.body).toEqual({
      status: 'duplicate',
      conversion_id: first.body.conversion_id,
      matched_on: 'idempotency_key',
      ...SEED_TIME_WARNING,
    });
    expect(await rowsFor('race-3', click)).toBe(1);
  });
});
