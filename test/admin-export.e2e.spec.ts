import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { request as httpRequest } from 'node:http';
import { Conversion } from '../src/modules/conversions/conversion.entity';
import { ConversionReadsRepository } from '../src/modules/conversions/conversion-reads.repository';
import { makeClick, makePartner } from './api-client';
import { makeConversion, makeKey, parseCsv, uniqueWindow } from './admin-helpers';
import { ADMIN_KEY, onPostgres, useTestApp } from './test-app';

const HEADER = [
  'id',
  'conversion_time',
  'partner_id',
  'tag_id',
  'click_id',
  'bid_id',
  'source',
  'event_type',
  'conversion_value',
  'currency',
  'order_id',
  'event_id',
  'dedup_key',
  'dedup_layer',
  'page_url',
  'referrer',
  'user_agent',
  'session_id',
  'client_id',
  'created_at',
  'params_extra',
  'attribution_status',
  'mode',
  'current_value',
  'status',
  'adjusted_at',
  'adjustment_count',
];

describe('GET /admin/conversions/export.csv (e2e)', () => {
  const { t, api, partner: f } = useTestApp();
  let support: string;

  beforeAll(async () => {
    support = (await makeKey(api, 'support')).key;
  });

  it('quotes awkward values so they read back exactly: commas, quotes, newlines, unicode', async () => {
    const w = uniqueWindow();
    const click = await makeClick(api, f);
    const awkward = {
      comma: 'a,b',
      quote: 'say "hi"',
      newline: 'line1\nline2\r\nline3',
      unicode: 'Zürich — 東京 🎉 \u202e',
      formula: '=SUM(A1:A2)',
      leading_space: '  padded  ',
      empty: '',
      nested: { list: [1, 'two', null, true], 'key,with"odd\nchars': 'v' },
    };
    const id = await makeConversion(api, f, click, {
      conversion_time: new Date(w.base).toISOString(),
      order_id: 'ord,"1"\n',
      user_agent: 'Mozilla/5.0 "quoted", with comma',
      conversion_value: '12.5',
      currency: 'eur',
      ...awkward,
    });
    const plain = await makeConversion(api, f, click, { conversion_time: new Date(w.base + 1000).toISOString() });

    const r = await t.app.inject({
      method: 'GET',
      url: `/admin/conversions/export.csv?click_id=${click}`,
      headers: { authorization: `Bearer ${support}` },
    });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(r.headers['content-disposition']).toBe('attachment; filename="conversions.csv"');
    const rows = parseCsv(r.body);
    expect(rows[0]).toEqual(HEADER);
    expect(rows).toHaveLength(3);
    const [first, second] = rows.slice(1).map((row) => Object.fromEntries(HEADER.map((h, i) => [h, row[i]])));
    expect(first.id).toBe(plain);
    expect(first.params_extra).toBe('{}');
    expect(first.order_id).toBe('');
    expect(second).toEqual({
      id,
      conversion_time: new Date(w.base).toISOString(),
      partner_id: f.partnerId,
      tag_id: f.tagId,
      click_id: click,
      bid_id: expect.stringMatching(/^bid_/),
      source: 'api',
      event_type: 'purchase_completed',
      conversion_value: '12.5',
      currency: 'EUR',
      order_id: 'ord,"1"\n',
      event_id: '',
      dedup_key: 'ord,"1"\n',
      dedup_layer: 'order_id',
      page_url: '',
      referrer: '',
      user_agent: 'Mozilla/5.0 "quoted", with comma',
      session_id: '',
      client_id: '',
      created_at: expect.stringMatching(/Z$/),
      params_extra: expect.any(String),
      attribution_status: 'outside_window', // w.base is long after a click registered today (issue 12)
      mode: 'live',
      current_value: '12.5',
      status: 'active',
      adjusted_at: '',
      adjustment_count: '0',
    });
    expect(JSON.parse(second.params_extra)).toEqual(awkward);
    // Every row has every column (a stray newline would have split one).
    for (const row of rows) expect(row).toHaveLength(HEADER.length);
  });

  it('applies the filters; rows newest first', async () => {
    const w = uniqueWindow();
    const p = await makePartner(api);
    const click = await makeClick(api, p);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++)
      ids.push(
        await makeConversion(api, p, click, {
          conversion_time: new Date(w.base + i * 1000).toISOString(),
          event_type: i % 3 === 0 ? 'lead_created' : 'purchase_completed',
        }),
      );
    const r = await api.request(
      'GET',
      `/admin/conversions/export.csv?partner_id=${p.partnerId}&from=${w.from}&to=${w.to}`,
      { key: ADMIN_KEY },
    );
    expect(r.status).toBe(200);
    const rows = parseCsv(r.body as string);
    expect(rows.slice(1).map((row) => row[0])).toEqual([...ids].reverse());
    const leads = await api.request(
      'GET',
      `/admin/conversions/export.csv?partner_id=${p.partnerId}&event_type=lead_created`,
      { key: support },
    );
    expect(
      parseCsv(leads.body as string)
        .slice(1)
        .map((row) => row[0]),
    ).toEqual(ids.filter((_, i) => i % 3 === 0).reverse());
    const none = await api.request('GET', `/admin/conversions/export.csv?partner_id=nobody`, { key: support });
    expect(none.status).toBe(200);
    expect(parseCsv(none.body as string)).toEqual([HEADER]);
  });

  it('streams every row across export batches (500 rows each), ties on conversion_time included', async () => {
    const w = uniqueWindow();
    const p = await makePartner(api);
    const click = await makeClick(api, p);
    const repo = t.app.get(DataSource).getRepository(Conversion);
    const rows: Conversion[] = [];
    // 4,500 rows, 3 per instant, so batch boundaries fall inside runs of equal conversion_time.
    for (let i = 0; i < 4500; i++) {
      rows.push({
        id: randomUUID(),
        partner_id: p.partnerId,
        tag_id: p.tagId,
        click_id: click,
        bid_id: 'bid_x',
        source: 'api',
        event_type: 'purchase_completed',
        conversion_time: new Date(w.base + Math.floor(i / 3) * 1000),
        conversion_value: '1',
        currency: 'USD',
        order_id: null,
        event_id: null,
        dedup_key: null,
        dedup_layer: null,
        page_url: null,
        referrer: null,
        user_agent: null,
        session_id: null,
        client_id: null,
        params: { extra: { i } },
        created_at: new Date(),
      });
    }
    for (let i = 0; i < rows.length; i += 400) await repo.insert(rows.slice(i, i + 400));
    const r = await api.request('GET', `/admin/conversions/export.csv?partner_id=${p.partnerId}`, { key: support });
    expect(r.status).toBe(200);
    const got = parseCsv(r.body as string).slice(1);
    expect(got).toHaveLength(4500);
    const ids = got.map((row) => row[0]);
    expect(new Set(ids).size).toBe(4500);
    const expected = [...rows]
      .sort((x, y) => y.conversion_time.getTime() - x.conversion_time.getTime() || (x.id < y.id ? 1 : -1))
      .map((x) => x.id);
    expect(ids).toEqual(expected);
  });

  it('stops reading the database when the client goes away mid-export', async () => {
    const w = uniqueWindow();
    const p = await makePartner(api);
    const click = await makeClick(api, p);
    const repo = t.app.get(DataSource).getRepository(Conversion);
    const n = 30_000;
    const rows: Conversion[] = [];
    for (let i = 0; i < n; i++) {
      rows.push({
        id: randomUUID(),
        partner_id: p.partnerId,
        tag_id: p.tagId,
        click_id: click,
        bid_id: 'bid_x',
        source: 'api',
        event_type: 'purchase_completed',
        conversion_time: new Date(w.base + i),
        conversion_value: '1',
        currency: 'USD',
        order_id: null,
        event_id: null,
        dedup_key: null,
        dedup_layer: null,
        page_url: 'https://shop.example.com/a-fairly-long-page-url-to-make-rows-bigger',
        referrer: null,
        user_agent: 'Mozilla/5.0 (X11; Linux x86_64) padding padding',
        session_id: null,
        client_id: null,
        params: { extra: { pad: 'x'.repeat(200) } },
        created_at: new Date(),
      });
    }
    for (let i = 0; i < n; i += 400) await repo.insert(rows.slice(i, i + 400));
    const reads = t.app.get(ConversionReadsRepository);
    const spy = jest.spyOn(reads as never, (onPostgres ? 'csvBatchPostgres' : 'csvBatchSqlite') as never);
    // Port 0: the system's pick, so parallel runs on one machine never collide.
    await t.app.listen(0, '127.0.0.1');
    const port = (t.app.getHttpServer().address() as AddressInfo).port;
    const got = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: `/admin/conversions/export.csv?partner_id=${p.partnerId}`,
          headers: { authorization: `Bearer ${support}` },
        },
        (res) => {
          res.once('data', (chunk: Buffer) => {
            req.destroy();
            resolve(chunk.length);
          });
        },
      );
      req.on('error', (e) => (String(e).includes('socket hang up') ? undefined : reject(e)));
      req.end();
    });
    expect(got).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 500));
    const calls = spy.mock.calls.length;
    // 30,000 rows are 60 batches; a client that left after its first chunk costs a handful.
    expect(calls).toBeLessThan(20);
    await new Promise((r) => setTimeout(r, 300));
    expect(spy.mock.calls.length).toBe(calls);
    spy.mockRestore();
    // The service carries on.
    expect(
      (await api.request('GET', `/admin/conversions?partner_id=${p.partnerId}&limit=1`, { key: support })).status,
    ).toBe(200);
  });
});
