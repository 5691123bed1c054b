import { conversionBody, makeClick } from './api-client';
import { conversionRows } from './db';
import { ServiceProcess } from './service-process';
import { onPostgres, useTestApp } from './test-app';

/**
 * Any number of identical requests, in parallel, against any number of service processes sharing
 * one database, produce exactly one row and one ok; the rest get duplicate; never a 5xx.
 */
describe('concurrent identical conversions', () => {
  const { t, api, partner: f } = useTestApp();

  function tally(statuses: { status: number; body: { status?: string; conversion_id?: string } }[]) {
    const ok = statuses.filter((r) => r.status === 200 && r.body.status === 'ok');
    const dup = statuses.filter((r) => r.status === 200 && r.body.status === 'duplicate');
    const other = statuses.filter((r) => r.status !== 200);
    return { ok, dup, other };
  }

  it('50 in parallel in one process: one row, one ok, 49 duplicate', async () => {
    const click = await makeClick(api, f);
    const body = conversionBody(click, { order_id: 'race-1' });
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        api.post('/api/conversion', body, f.partnerKey, { 'idempotency-key': 'race-1' }),
      ),
    );
    const { ok, dup, other } = tally(results);
    expect(other).toEqual([]);
    expect(ok).toHaveLength(1);
    expect(dup).toHaveLength(49);
    expect(new Set(dup.map((d) => d.body.conversion_id))).toEqual(new Set([ok[0].body.conversion_id]));
    expect(await conversionRows(t, click)).toHaveLength(1);
  });

  describe('split across two service processes sharing the database', () => {
    let a: ServiceProcess;
    let b: ServiceProcess;

    beforeAll(async () => {
      const env = onPostgres ? { DATABASE_URL: t.config.databaseUrl } : { SQLITE_PATH: t.config.sqlitePath };
      [a, b] = await Promise.all([ServiceProcess.start(env), ServiceProcess.start(env)]);
    }, 60_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('50 identical requests over two processes: one row, one ok, 49 duplicate, no 5xx', async () => {
      const click = await makeClick(api, f);
      const payload = JSON.stringify(conversionBody(click, { event_id: 'race-2' }));
      const results = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const r = await fetch(`${(i % 2 ? a : b).url}/api/conversion`, {
            method: 'POST',
            headers: { authorization: `Bearer ${f.partnerKey}`, 'content-type': 'application/json' },
            body: payload,
          });
          return { status: r.status, body: (await r.json()) as { status?: string; conversion_id?: string } };
        }),
      );
      const { ok, dup, other } = tally(results);
      expect(other).toEqual([]);
      expect(ok).toHaveLength(1);
      expect(dup).toHaveLength(49);
      expect(await conversionRows(t, click)).toHaveLength(1);
    });

    it('many keys at once over two processes: exactly one row per key', async () => {
      const click = await makeClick(api, f);
      const keys = Array.from({ length: 20 }, (_, i) => `k-${i}`);
      const results = await Promise.all(
        keys.flatMap((k) =>
          [a, b, a, b].map(async (svc) => {
            const r = await fetch(`${svc.url}/api/conversion`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${f.partnerKey}`,
                'content-type': 'application/json',
                'idempotency-key': k,
              },
              body: JSON.stringify(conversionBody(click)),
            });
            return { status: r.status, body: (await r.json()) as { status?: string } };
          }),
        ),
      );
      const { ok, dup, other } = tally(results);
      expect(other).toEqual([]);
      expect(ok).toHaveLength(20);
      expect(dup).toHaveLength(60);
      const rows = await conversionRows(t, click);
      expect(rows).toHaveLength(20);
      expect(new Set(rows.map((r) => r.dedup_key))).toEqual(new Set(keys));
    });
  });
});
