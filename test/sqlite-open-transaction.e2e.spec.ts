import { conversionBody, makeClick, SEED_TIME_WARNING } from './api-client';
import { conversionRows, db } from './db';
import { onPostgres, useTestApp } from './test-app';

/*
 * SQLite has one connection per process, shared by TypeORM (admin writes run in a transaction on
 * it) and the conversion write batcher. A conversion batch started while such a transaction is
 * open would run inside it (better-sqlite3 makes a nested transaction a savepoint) and be rolled
 * back with it after its `ok` had been answered. The batcher waits for the connection to be free.
 */
(onPostgres ? describe.skip : describe)('SQLite: a conversion never joins another open transaction', () => {
  const { t, api, partner: f } = useTestApp();

  it('a conversion posted while a transaction is open is committed on its own, even when that one rolls back', async () => {
    const click = await makeClick(api, f);
    const qr = db(t).createQueryRunner();
    await qr.startTransaction();
    const pending = api.post('/api/conversion', conversionBody(click, { order_id: 'during-tx' }), f.partnerKey);
    await new Promise((r) => setTimeout(r, 50));
    await qr.rollbackTransaction();
    await qr.release();
    const r = await pending;
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
    const rows = await conversionRows(t, click);
    expect(rows.map((x) => x.id)).toEqual([r.body.conversion_id]);
  });
});
