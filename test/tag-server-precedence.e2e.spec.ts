import { DataSource } from 'typeorm';
import { ApiClient, conversionBody, Fixture } from './api-client';
import { ADMIN_KEY, TestApp, useTestApp } from './test-app';

const ORIGIN = 'https://shop.example.com';

/*
 * The clicks are dated yesterday at noon and the conversions shortly after, so the attribution-time
 * checks pass (no warning in the answers) while the signed clicks stay valid (CLICK_TTL after the click).
 */
const DAY = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
const at = (time: string) => `${DAY}T${time}`;

async function signedClick(api: ApiClient, f: Fixture): Promise<{ click_id: string; sig: string; exp: number }> {
  const r = await api.post(
    '/api/clicks',
    { tag_id: f.tagId, bid_id: 'bid_1', clicked_at: at('12:00:00Z') },
    f.ingestKey,
  );
  expect(r.status).toBe(201);
  return { click_id: r.body.click_id, sig: r.body.sig, exp: r.body.exp };
}

interface Row {
  id: string;
  source: string;
  conversion_value: string;
  currency: string;
  conversion_time: string;
  order_id: string | null;
  page_url: string | null;
  params: {
    extra?: Record<string, unknown>;
    superseded?: { source: string; at: string; values: Record<string, unknown> };
  };
}

async function rowsOf(t: TestApp, clickId: string): Promise<Row[]> {
  const ds = t.app.get(DataSource);
  const rows: Record<string, unknown>[] = await ds.query(
    `SELECT id, source, conversion_value, currency, conversion_time, order_id, page_url, params FROM conversions
     WHERE click_id = ${ds.options.type === 'postgres' ? '$1' : '?'}`,
    [clickId],
  );
  return rows.map((r) => ({
    ...(r as unknown as Row),
    conversion_value: String(Number(r.conversion_value)),
    conversion_time: new Date(
      r.conversion_time instanceof Date ? r.conversion_time : String(r.conversion_time).replace(' ', 'T') + 'Z',
    ).toISOString(),
    params: typeof r.params === 'string' ? JSON.parse(r.params) : r.params,
  })) as Row[];
}

/** A visitor's Tag conversion of `order` for 0.01, and the advertiser's server conversion of it for 500. */
const tagOf = (c: { click_id: string; sig: string; exp: number }, order: string) =>
  conversionBody(c.click_id, {
    conversion_time: at('12:34:56Z'),
    sig: c.sig,
    exp: c.exp,
    order_id: order,
    conversion_value: '0.01',
    currency: 'EUR',
    page_url: `${ORIGIN}/thanks`,
    coupon: 'FREE',
  });
const serverOf = (clickId: string, order: string) =>
  conversionBody(clickId, {
    order_id: order,
    conversion_value: '500',
    currency: 'USD',
    conversion_time: at('13:00:00Z'),
    channel: 'erp',
  });

describe('Tag vs server precedence, payload mismatch (e2e)', () => {
  const { t, api, partner: f } = useTestApp({ origins: [ORIGIN] });
  const tagPost = (body: unknown) => api.post('/api/tag/conversion', body, undefined, { origin: ORIGIN });

  it('tag then server: the server is answered duplicate, superseded "tag", and its values replace the Tag row', async () => {
    const c = await signedClick(api, f);
    const tag = await tagPost(tagOf(c, 'X'));
    expect(tag.status).toBe(200);
    expect(tag.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });

    const server = await api.post('/api/conversion', serverOf(c.click_id, 'X'), f.partnerKey);
    expect(server.status).toBe(200);
    expect(server.body).toEqual({
      status: 'duplicate',
      conversion_id: tag.body.conversion_id,
      matched_on: 'order_id',
      superseded: 'tag',
    });
    const rows = await rowsOf(t, c.click_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: tag.body.conversion_id,
      source: 'api',
      conversion_value: '500',
      currency: 'USD',
      conversion_time: at('13:00:00.000Z'),
      order_id: 'X',
      page_url: null,
    });
    expect(rows[0].params.extra).toEqual({ channel: 'erp' });
    expect(rows[0].params.superseded).toEqual({
      source: 'tag',
      at: expect.any(String),
      values: expect.objectContaining({
        conversion_value: '0.01',
        currency: 'EUR',
        conversion_time: at('12:34:56.000Z'),
        tag_id: f.tagId,
        order_id: 'X',
        page_url: `${ORIGIN}/thanks`,
        extra: { coupon: 'FREE' },
      }),
    });

    // A second server retry is a plain duplicate: nothing superseded again, nothing mismatched.
    const again = await api.post('/api/conversion', serverOf(c.click_id, 'X'), f.partnerKey);
    expect(again.body).toEqual({ status: 'duplicate', conversion_id: tag.body.conversion_id, matched_on: 'order_id' });
    const after = await rowsOf(t, c.click_id);
    expect(after).toEqual(rows);

    const metrics = await api.request('GET', '/metrics', { key: ADMIN_KEY });
    expect(metrics.body).toMatch(/conversions_superseded_total\{[^}]*\} [1-9]/);
  });

  it('server then tag: the Tag is a duplicate and changes nothing', async () => {
    const c = await signedClick(api, f);
    const server = await api.post('/api/conversion', serverOf(c.click_id, 'Y'), f.partnerKey);
    expect(server.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
    const before = await rowsOf(t, c.click_id);

    const tag = await tagPost(tagOf(c, 'Y'));
    expect(tag.status).toBe(200);
    expect(tag.body).toMatchObject({ status: 'duplicate', conversion_id: server.body.conversion_id });
    expect(tag.body.superseded).toBeUndefined();
    expect(await rowsOf(t, c.click_id)).toEqual(before);
    expect(before[0]).toMatchObject({ source: 'api', conversion_value: '500', currency: 'USD' });
  });

  it('a duplicate whose money fields differ names them in payload_mismatch, and writes nothing', async () => {
    const c = await signedClick(api, f);
    const first = await api.post('/api/conversion', serverOf(c.click_id, 'Z'), f.partnerKey);
    expect(first.body.status).toBe('ok');
    const before = await rowsOf(t, c.click_id);

    const same = await api.post(
      '/api/conversion',
      { ...serverOf(c.click_id, 'Z'), conversion_value: 500.0 },
      f.partnerKey,
    );
    expect(same.body).toEqual({ status: 'duplicate', conversion_id: first.body.conversion_id, matched_on: 'order_id' });

    const other = await api.post(
      '/api/conversion',
      {
        ...serverOf(c.click_id, 'Z'),
        conversion_value: '499.99',
        currency: 'eur',
        conversion_time: at('14:00:00+01:00'),
      },
      f.partnerKey,
    );
    expect(other.body).toEqual({
      status: 'duplicate',
      conversion_id: first.body.conversion_id,
      matched_on: 'order_id',
      payload_mismatch: ['conversion_value', 'currency'],
    });
    const time = await api.post(
      '/api/conversion',
      { ...serverOf(c.click_id, 'Z'), conversion_time: at('13:00:01Z') },
      f.partnerKey,
    );
    expect(time.body.payload_mismatch).toEqual(['conversion_time']);
    expect(await rowsOf(t, c.click_id)).toEqual(before);

    const metrics = await api.request('GET', '/metrics', { key: ADMIN_KEY });
    expect(metrics.body).toMatch(/conversion_payload_mismatch_total\{field="conversion_value"\} [1-9]/);
    expect(metrics.body).toMatch(/conversion_payload_mismatch_total\{field="conversion_time"\} [1-9]/);
  });

  it('the batch route supersedes and flags mismatches per item', async () => {
    const c = await signedClick(api, f);
    const tag = await tagPost(tagOf(c, 'B1'));
    expect(tag.body.status).toBe('ok');
    const r = await api.post(
      '/api/conversions/batch',
      {
        conversions: [
          serverOf(c.click_id, 'B1'),
          serverOf(c.click_id, 'B2'),
          { ...serverOf(c.click_id, 'B2'), conversion_value: 1 },
        ],
      },
      f.partnerKey,
    );
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      {
        index: 0,
        status: 'duplicate',
        conversion_id: tag.body.conversion_id,
        matched_on: 'order_id',
        superseded: 'tag',
      },
      { index: 1, status: 'ok', conversion_id: expect.any(String) },
      {
        index: 2,
        status: 'duplicate',
        conversion_id: r.body.results[1].conversion_id,
        matched_on: 'order_id',
        payload_mismatch: ['conversion_value'],
      },
    ]);
    const rows = await rowsOf(t, c.click_id);
    expect(rows.find((x) => x.order_id === 'B1')).toMatchObject({ source: 'api', conversion_value: '500' });
  });

  it('a race of many Tag and server pairs: one row per key, each with the server values', async () => {
    const clicks = await Promise.all(Array.from({ length: 24 }, () => signedClick(api, f)));
    const answers = await Promise.all(
      clicks.flatMap((c, i) => {
        const pair = [
          () => tagPost(tagOf(c, `R${i}`)),
          () => api.post('/api/conversion', serverOf(c.click_id, `R${i}`), f.partnerKey),
          () => api.post('/api/conversion', serverOf(c.click_id, `R${i}`), f.partnerKey),
        ];
        return (i % 2 ? pair.reverse() : pair).map((p) => p());
      }),
    );
    for (const a of answers) expect(a.status).toBe(200);
    let superseded = 0;
    for (const c of clicks) {
      const rows = await rowsOf(t, c.click_id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ source: 'api', conversion_value: '500', currency: 'USD' });
      expect(rows[0].params.extra).toEqual({ channel: 'erp' });
      if (rows[0].params.superseded) superseded++;
    }
    // Each superseded row was superseded by exactly one answer.
    expect(answers.filter((a) => a.body.superseded === 'tag')).toHaveLength(superseded);
  });
});
