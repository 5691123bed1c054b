import { createHmac, randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makePartner } from './api-client';
import { ADMIN_KEY, createTestApp, TestApp } from './test-app';

const ORIGIN = 'https://shop.example.com';
const LINK_SECRET = 'test-link-signing-secret-0123456789abcdef';

/** The ad server's side, as README documents it: base64url HMAC-SHA256 over "thrad-link-v1", tag, bid and url. */
function linkSig(tagId: string, bidId: string | null, url: string, secret = LINK_SECRET): string {
  return createHmac('sha256', secret)
    .update(`thrad-link-v1\n${tagId}\n${bidId ?? ''}\n${url}`, 'utf8')
    .digest('base64url');
}

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

/** Every other base64url spelling of the same bytes: the unused low bits of the last character flipped. */
function otherSpellings(b64: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(b64[b64.length - 1]);
  const unused = b64.length % 4 === 3 ? 2 : 4; // 43 chars: 2 unused bits
  const out: string[] = [];
  for (let low = 0; low < 1 << unused; low++) {
    const c = alphabet[(last & ~((1 << unused) - 1)) | low];
    if (c !== b64[b64.length - 1]) out.push(b64.slice(0, -1) + c);
  }
  return out;
}

describe('keyless paths: signed links (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;

  beforeAll(async () => {
    t = await createTestApp({ LINK_SIGNING_SECRET: LINK_SECRET });
    api = new ApiClient(t.app);
    f = await makePartner(api, undefined, [ORIGIN]);
  });
  afterAll(() => t.close());

  it('records the bid of a link the ad server signed, and the Tag can use the click', async () => {
    const url = `${ORIGIN}/p/1?utm_source=thrad`;
    const r = await api.request(
      'GET',
      clickUrl({ tag_id: f.tagId, bid_id: 'bid_9', url, sig: linkSig(f.tagId, 'bid_9', url) }),
    );
    expect(r.status).toBe(302);
    const c = signedClickOf(r.headers.location as string);
    const click = await api.request('GET', `/admin/clicks/${c.click_id}`, { key: ADMIN_KEY });
    expect(click.status).toBe(200);
    expect(click.body.bid_id).toBe('bid_9');
    const conv = await api.post(
      '/api/tag/conversion',
      conversionBody(c.click_id, { sig: c.sig, exp: c.exp }),
      undefined,
      {
        origin: ORIGIN,
      },
    );
    expect(conv.status).toBe(200);
  });

  it('takes a link built as README does (URLSearchParams; a landing URL with %20 and +)', async () => {
    const url = `${ORIGIN}/p/1?q=a%20b+c&utm_source=thrad`;
    const q = new URLSearchParams({ tag_id: f.tagId, bid_id: 'bid 7+x', url, sig: linkSig(f.tagId, 'bid 7+x', url) });
    const r = await api.request('GET', `/c?${q}`);
    expect(r.status).toBe(302);
    expect(r.headers.location).toMatch(
      /^https:\/\/shop\.example\.com\/p\/1\?q=a%20b\+c&utm_source=thrad&thrad_click_id=/,
    );
    const click = await api.request('GET', `/admin/clicks/${signedClickOf(r.headers.location as string).click_id}`, {
      key: ADMIN_KEY,
    });
    expect(click.body.bid_id).toBe('bid 7+x');
  });

  it('refuses an unsigned bid_id with 400, writing no click', async () => {
    const url = `${ORIGIN}/p/1`;
    const r = await api.request('GET', clickUrl({ tag_id: f.tagId, bid_id: 'bid_forged', url }));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ detail: 'Invalid link signature' });
    expect(r.headers.location).toBeUndefined();
  });

  it.each([
    ['another bid', { bid_id: 'bid_other' }],
    ['another landing URL', { url: `${ORIGIN}/p/2` }],
    ['another tag', { tag_id: 'another-tag' }],
    ['a signature made with another secret', { sig: linkSig('x', 'bid_9', `${ORIGIN}/p/1`, 'x'.repeat(40)) }],
    ['a truncated signature', { sig: linkSig('x', 'bid_9', `${ORIGIN}/p/1`).slice(0, 42) }],
    ['a bid that was signed as absent', { sig: 'NOBID' }],
  ])('refuses a link tampered with (%s) with 400', async (_name, change) => {
    const base = { tag_id: f.tagId, bid_id: 'bid_9', url: `${ORIGIN}/p/1` };
    const sig = linkSig(base.tag_id, base.bid_id, base.url);
    const q = { ...base, sig, ...change } as { tag_id: string; bid_id: string; url: string; sig: string };
    if (q.sig === 'NOBID') q.sig = linkSig(base.tag_id, null, base.url);
    const r = await api.request('GET', clickUrl(q));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ detail: 'Invalid link signature' });
  });

  it('accepts only the canonical spelling of a link signature', async () => {
    const url = `${ORIGIN}/p/3`;
    const sig = linkSig(f.tagId, 'bid_3', url);
    const spellings = otherSpellings(sig);
    expect(spellings).toHaveLength(3);
    for (const s of spellings) {
      const r = await api.request('GET', clickUrl({ tag_id: f.tagId, bid_id: 'bid_3', url, sig: s }));
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ detail: 'Invalid link signature' });
    }
    const good = await api.request('GET', clickUrl({ tag_id: f.tagId, bid_id: 'bid_3', url, sig }));
    expect(good.status).toBe(302);
  });

  it('still takes a link without bid_id unsigned (the bid is attached later by the ingest key), or signed', async () => {
    const url = `${ORIGIN}/p/4`;
    const unsigned = await api.request('GET', clickUrl({ tag_id: f.tagId, url }));
    expect(unsigned.status).toBe(302);
    const c = signedClickOf(unsigned.headers.location as string);
    const patched = await api.request('PATCH', `/api/clicks/${c.click_id}`, {
      key: f.ingestKey,
      body: { bid_id: 'late' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.bid_id).toBe('late');
    const signed = await api.request('GET', clickUrl({ tag_id: f.tagId, url, sig: linkSig(f.tagId, null, url) }));
    expect(signed.status).toBe(302);
  });
});

describe('keyless paths: click redirect rate limit (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;

  beforeAll(async () => {
    t = await createTestApp({ CLICK_RATE_LIMIT_PER_ADDRESS: '3', TAG_RATE_WINDOW: '60s' });
    api = new ApiClient(t.app);
    f = await makePartner(api, undefined, [ORIGIN]);
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After once one address has used its budget, before recording a click', async () => {
    const url = clickUrl({ tag_id: f.tagId, url: `${ORIGIN}/p/1` });
    for (let i = 0; i < 3; i++) expect((await api.request('GET', url)).status).toBe(302);
    const limited = await api.request('GET', url);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ detail: 'Too many requests' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers.location).toBeUndefined();
    // Bad requests count too: nobody probes tags for free.
    const unknown = await api.request('GET', clickUrl({ tag_id: 'nope', url: `${ORIGIN}/p/1` }));
    expect(unknown.status).toBe(429);
  });
});

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
