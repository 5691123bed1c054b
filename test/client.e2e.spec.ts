import { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { createThradClient } from '../src/client';
import { makeClick } from './api-client';
import { ADMIN_KEY, useTestApp } from './test-app';

/** The generated client (src/client) against the real app on a real port, over real HTTP. */
describe('typed client against the app (e2e)', () => {
  const { t, api, partner: f } = useTestApp();
  let baseUrl = '';

  beforeAll(async () => {
    await t.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });

  async function count(clickId: string): Promise<number> {
    const ds = t.app.get(DataSource);
    const p = ds.options.type === 'postgres' ? '$1' : '?';
    const rows = await ds.query(`SELECT id FROM conversions WHERE click_id = ${p}`, [clickId]);
    return rows.length;
  }

  it('posts a conversion (generated Idempotency-Key), the same key again is a duplicate; one row', async () => {
    const clickId = await makeClick(api, f);
    const client = createThradClient({ baseUrl, apiKey: f.partnerKey });
    const body = {
      click_id: clickId,
      conversion_time: new Date().toISOString(),
      conversion_value: 99.99,
      currency: 'USD',
    };
    const first = await client.postConversion(body);
    expect(first.response.status).toBe(200);
    expect(first.data).toEqual({ status: 'ok', conversion_id: expect.any(String) });
    expect(first.idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
    const again = await client.postConversion(body, { idempotencyKey: first.idempotencyKey });
    expect(again.data).toEqual({
      status: 'duplicate',
      conversion_id: first.data!.conversion_id,
      matched_on: 'idempotency_key',
    });
    expect(await count(clickId)).toBe(1);

    const explained = await createThradClient({ baseUrl, apiKey: ADMIN_KEY }).api.GET('/admin/explain', {
      params: { query: { click_id: clickId } },
    });
    expect(explained.data?.conversions.map((c) => [c.id, c.dedup_layer])).toEqual([
      [first.data!.conversion_id, 'idempotency_key'],
    ]);
  });

  it('a batch: typed per-item results, keys generated per item', async () => {
    const clickId = await makeClick(api, f);
    const client = createThradClient({ baseUrl, apiKey: f.partnerKey });
    const at = new Date().toISOString();
    const r = await client.postConversionBatch([
      { click_id: clickId, conversion_time: at, conversion_value: 1, currency: 'USD' },
      { click_id: clickId, conversion_time: at, conversion_value: 2, currency: 'USD', order_id: 'o-client-1' },
      { click_id: 'clk_nope', conversion_time: at, conversion_value: 3, currency: 'USD' },
    ]);
    expect(r.response.status).toBe(200);
    expect(r.data!.counts).toEqual({ ok: 2, duplicate: 0, rejected: 1 });
    const [a, b, c] = r.data!.results;
    expect([a.status, b.status]).toEqual(['ok', 'ok']);
    expect(c.status === 'rejected' && c.error).toEqual({ status: 404, detail: 'Click not found' });
    // The generated key went as item 0's idempotency_key; item 1 kept its order_id as its dedup key.
    expect(r.items[0].idempotency_key).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.items[1].idempotency_key).toBeUndefined();
    const again = await client.postConversionBatch(r.items.slice(0, 2));
    expect(again.data!.results.map((x) => [x.status, x.status !== 'rejected' && x.matched_on])).toEqual([
      ['duplicate', 'idempotency_key'],
      ['duplicate', 'order_id'],
    ]);
    expect(await count(clickId)).toBe(2);
  });

  it('a wrong key is the typed 401', async () => {
    const r = await createThradClient({ baseUrl, apiKey: 'nope' }).api.GET('/admin/partners');
    expect(r.response.status).toBe(401);
    expect(r.error).toEqual({ detail: 'Invalid API key' });
  });
});
