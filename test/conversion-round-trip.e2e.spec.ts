import { randomUUID } from 'node:crypto';
import { CONVERSION_COLUMNS } from '../src/modules/conversions/conversion.entity';
import { makeKey, parseCsv } from './admin-helpers';
import { ApiClient, Fixture, makeClick, makePartner } from './api-client';
import { ADMIN_KEY, createTestApp, TestApp } from './test-app';

/*
 * Every column a conversion writes gets its own distinct value through POST /api/conversion, and
 * each is read back from the admin view and from the CSV export. Two columns written the other way
 * round (a swap in the write statements, the read query or the CSV mapping) fail it.
 */
describe('a conversion round trip: every written column reads back as sent (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;
  let support: string;
  let otherTag: string;

  beforeAll(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app);
    f = await makePartner(api);
    support = (await makeKey(api, 'support')).key;
    const tag = await api.post(
      `/admin/partners/${f.partnerId}/tags`,
      { name: 'second', allowed_origins: ['https://other.example.com'] },
      ADMIN_KEY,
    );
    expect(tag.status).toBe(201);
    otherTag = tag.body.id;
  });
  afterAll(() => t.close());

  it('writes a distinct value to every column and reads each back from GET /admin/conversions/{id} and the CSV', async () => {
    const run = randomUUID().slice(0, 8);
    const bid = `bid_rt_${run}`;
    const click = await makeClick(api, f, { bid_id: bid });
    const createdAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_789);
    t.clock.fixed = createdAt;
    const r = await api.post(
      '/api/conversion',
      {
        click_id: click,
        conversion_time: '2030-01-02T03:04:05.678Z',
        conversion_value: '1234.5678',
        currency: 'eur',
        event_type: `rt_event_type_${run}`,
        order_id: `rt_order_${run}`,
        event_id: `rt_event_id_${run}`,
        tag_id: otherTag,
        page_url: `https://shop.example.com/rt/page/${run}`,
        referrer: `https://shop.example.com/rt/referrer/${run}`,
        user_agent: `rt-agent/${run}`,
        session_id: `rt_session_${run}`,
        client_id: `rt_client_${run}`,
        rt_extra: `extra_${run}`,
      },
      f.partnerKey,
      { 'idempotency-key': `rt_idempotency_${run}` },
    );
    t.clock.fixed = undefined;
    expect(r.status).toBe(200);
    // 2030 is past the 30-day window after a click registered today: flagged (issue 12).
    expect(r.body).toEqual({
      status: 'ok',
      conversion_id: expect.any(String),
      warnings: [expect.objectContaining({ code: 'outside_window' })],
    });
    const expected: Record<string, string> = {
      id: r.body.conversion_id,
      partner_id: f.partnerId,
      tag_id: otherTag,
      click_id: click,
      bid_id: bid,
      source: 'api',
      event_type: `rt_event_type_${run}`,
      conversion_time: '2030-01-02T03:04:05.678Z',
      conversion_value: '1234.5678',
      currency: 'EUR',
      order_id: `rt_order_${run}`,
      event_id: `rt_event_id_${run}`,
      dedup_key: `rt_idempotency_${run}`,
      dedup_layer: 'idempotency_key',
      page_url: `https://shop.example.com/rt/page/${run}`,
      referrer: `https://shop.example.com/rt/referrer/${run}`,
      user_agent: `rt-agent/${run}`,
      session_id: `rt_session_${run}`,
      client_id: `rt_client_${run}`,
      created_at: createdAt.toISOString(),
      attribution_status: 'outside_window',
      mode: 'live',
    };
    const extra = { rt_extra: `extra_${run}` };
    // Every column of the table is checked (params through its extra), each with a value no other has.
    expect([...Object.keys(expected), 'params'].sort()).toEqual([...CONVERSION_COLUMNS].sort());
    expect(new Set(Object.values(expected)).size).toBe(Object.keys(expected).length);

    const detail = await api.request('GET', `/admin/conversions/${expected.id}`, { key: support });
    expect(detail.status).toBe(200);
    for (const [column, value] of Object.entries(expected))
      expect([column, detail.body[column]]).toEqual([column, value]);
    expect(detail.body.params).toEqual({ extra });

    const csv = await t.app.inject({
      method: 'GET',
      url: `/admin/conversions/export.csv?click_id=${encodeURIComponent(click)}`,
      headers: { authorization: `Bearer ${support}` },
    });
    expect(csv.statusCode).toBe(200);
    const [header, row, ...rest] = parseCsv(csv.body);
    expect(rest).toEqual([]);
    const cell = (column: string) => row[header.indexOf(column)];
    for (const [column, value] of Object.entries(expected)) expect([column, cell(column)]).toEqual([column, value]);
    expect(JSON.parse(cell('params_extra'))).toEqual(extra);
  });
});
