import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makePartner } from './api-client';
import { ADMIN_KEY, createTestApp, TestApp } from './test-app';

function clickUrl(q: { tag_id: string; bid_id?: string; url: string; sig?: string }): string {
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`);
  return `/c?${parts.join('&')}`;
}

/** The signed click a redirect appended to the landing URL. */
function signedClickOf(location: string): { click_id: string; sig: string; exp: number } {
  const u = new URL(location);
  return {
    click_id: u.searchParams.get('thrad_click_id')!,
    sig: u.searchParams.get('thrad_sig')!,
    exp: Number(u.searchParams.get('thrad_exp')),
  };
}

describe('keyless paths: a disabled partner (e2e)', () => {
  // An origin no other partner's tag allows (the PostgreSQL test database is shared), so the preflight can tell.
  const OWN_ORIGIN = `https://shop-${randomUUID().slice(0, 8)}.example.com`;
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;

  beforeAll(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app);
    f = await makePartner(api, undefined, [OWN_ORIGIN]);
  });
  afterAll(() => t.close());

  it('stops its tags on /c, the Tag conversion call and click registration, and starts them again on enable', async () => {
    const redirect = clickUrl({ tag_id: f.tagId, url: `${OWN_ORIGIN}/p/1` });
    // Warm every cache first: disabling must take effect at once in this process.
    const before = await api.request('GET', redirect);
    expect(before.status).toBe(302);
    const c = signedClickOf(before.headers.location as string);
    const reg = await api.post('/api/clicks', { tag_id: f.tagId, bid_id: 'b1' }, f.ingestKey);
    expect(reg.status).toBe(201);
    const withBid = { click_id: reg.body.click_id as string, sig: reg.body.sig as string, exp: reg.body.exp as number };
    const tagConv = (e: string) =>
      api.post(
        '/api/tag/conversion',
        conversionBody(withBid.click_id, { sig: withBid.sig, exp: withBid.exp, event_id: e }),
        undefined,
        {
          origin: OWN_ORIGIN,
        },
      );
    expect((await tagConv('e1')).status).toBe(200);
    const pre = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/tag/conversion',
      headers: { origin: OWN_ORIGIN, 'access-control-request-method': 'POST' },
    });
    expect(pre.statusCode).toBe(204);

    expect((await api.post(`/admin/partners/${f.partnerId}/disable`, {}, ADMIN_KEY)).status).toBe(200);

    const r1 = await api.request('GET', redirect);
    expect(r1.status).toBe(400);
    expect(r1.body).toEqual({ detail: 'Unknown tag' });
    const r2 = await tagConv('e2');
    expect(r2.status).toBe(404);
    expect(r2.body).toEqual({ detail: 'Click not found' });
    const r3 = await api.post('/api/clicks', { tag_id: f.tagId, bid_id: 'b2' }, f.ingestKey);
    expect(r3.status).toBe(422);
    expect(r3.body.detail[0]).toMatchObject({ loc: ['body', 'tag_id'], msg: 'Value error, unknown tag' });
    const r4 = await api.request('PATCH', `/api/clicks/${c.click_id}`, { key: f.ingestKey, body: { bid_id: 'late' } });
    expect(r4.status).toBe(404);
    expect(r4.body).toEqual({ detail: 'Click not found' });
    const r5 = await t.app.inject({
      method: 'OPTIONS',
      url: '/api/tag/conversion',
      headers: { origin: OWN_ORIGIN, 'access-control-request-method': 'POST' },
    });
    expect(r5.statusCode).toBe(403);

    expect((await api.post(`/admin/partners/${f.partnerId}/enable`, {}, ADMIN_KEY)).status).toBe(200);
    expect((await api.request('GET', redirect)).status).toBe(302);
    expect((await tagConv('e3')).status).toBe(200);
    expect((await api.post('/api/clicks', { tag_id: f.tagId, bid_id: 'b3' }, f.ingestKey)).status).toBe(201);
  });
});
