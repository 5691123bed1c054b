import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ApiClient, conversionBody, Fixture, makeClick, makePartner, SEED_TIME_WARNING } from './api-client';
import { TestApp, useTestApp } from './test-app';
import { ClicksService } from '../src/modules/clicks/clicks.service';
import { ConversionsService } from '../src/modules/conversions/conversions.service';
import { LinkSigner } from '../src/modules/tag/link-signer';

const ORIGIN = 'https://shop.example.com';

/** A click registered through the ingest API, with its signature. */
async function signedClick(
  api: ApiClient,
  f: Fixture,
  bid: string | null = 'bid_1',
): Promise<{ click_id: string; sig: string; exp: number }> {
  const body: Record<string, unknown> = { tag_id: f.tagId };
  if (bid !== null) body.bid_id = bid;
  const r = await api.post('/api/clicks', body, f.ingestKey);
  expect(r.status).toBe(201);
  return { click_id: r.body.click_id, sig: r.body.sig, exp: r.body.exp };
}

function tagBody(c: { click_id: string; sig: string; exp: number | string }, extra: Record<string, unknown> = {}) {
  return conversionBody(c.click_id, { sig: c.sig, exp: c.exp, ...extra });
}

async function rowsOf(
  t: TestApp,
  clickId: string,
): Promise<{ source: string; params: unknown; event_id: string | null }[]> {
  const ds = t.app.get(DataSource);
  const rows: { source: string; params: unknown; event_id: string | null }[] = await ds.query(
    `SELECT source, params, event_id FROM conversions WHERE click_id = ${ds.options.type === 'postgres' ? '$1' : '?'} ORDER BY created_at`,
    [clickId],
  );
  return rows.map((r) => ({ ...r, params: typeof r.params === 'string' ? JSON.parse(r.params) : r.params }));
}

describe('browser path (e2e)', () => {
  const { t, api, partner: f } = useTestApp({ origins: [ORIGIN, 'http://localhost:8080'] });
  afterEach(() => {
    t.clock.offsetMs = 0;
    jest.restoreAllMocks();
  });

  describe('POST /api/clicks', () => {
    it('returns sig and exp (clicked_at + 30 days)', async () => {
      const clickId = `clk_signed_${randomUUID()}`;
      const r = await api.post(
        '/api/clicks',
        { tag_id: f.tagId, click_id: clickId, bid_id: 'b', clicked_at: '2026-05-26T12:00:00Z' },
        f.ingestKey,
      );
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        click_id: clickId,
        tag_id: f.tagId,
        partner_id: f.partnerId,
        bid_id: 'b',
        clicked_at: '2026-05-26T12:00:00.000Z',
        landing_url: null,
        created_at: expect.any(String),
        exp: Date.parse('2026-06-25T12:00:00Z') / 1000,
        sig: expect.stringMatching(/^k[A-Za-z0-9_-]{7}\.[A-Za-z0-9_-]{43}$/),
      });
    });
  });

  describe('GET /c', () => {
    it('records a click and redirects with the signed click appended, query and fragment kept', async () => {
      const url = `${ORIGIN}/p/1?utm_source=thrad&q=a%20b#reviews`;
      // A link with a bid id is signed by the ad server (LINK_SIGNING_SECRET; see test/keyless.e2e.spec.ts).
      const linkSig = t.app.get(LinkSigner).sign(f.tagId, 'bid_9', url);
      const r = await api.request(
        'GET',
        `/c?tag_id=${f.tagId}&bid_id=bid_9&url=${encodeURIComponent(url)}&sig=${encodeURIComponent(linkSig)}`,
      );
      expect(r.status).toBe(302);
      expect(r.headers['cache-control']).toBe('no-store');
      const loc = r.headers.location as string;
      const m =
        /^https:\/\/shop\.example\.com\/p\/1\?utm_source=thrad&q=a%20b&thrad_click_id=(clk_[A-Za-z0-9_-]+)&thrad_sig=([A-Za-z0-9_.-]+)&thrad_exp=(\d+)#reviews$/.exec(
          loc,
        );
      expect(m).not.toBeNull();
      const [, clickId, sig, exp] = m!;
      expect(Math.abs(Number(exp) - (Date.now() / 1000 + 30 * 86400))).toBeLessThan(5);
      // The click exists, with its bid, and the signature is good for the Tag endpoint.
      const conv = await api.post(
        '/api/tag/conversion',
        tagBody({ click_id: clickId, sig, exp }, { order_id: 'o-redirect' }),
        undefined,
        { origin: ORIGIN },
      );
      expect(conv.status).toBe(200);
      expect(conv.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
    });

    it('adds a query to a URL without one', async () => {
      const r = await api.request('GET', `/c?tag_id=${f.tagId}&url=${encodeURIComponent('http://localhost:8080')}`);
      expect(r.status).toBe(302);
      expect(r.headers.location).toMatch(
        /^http:\/\/localhost:8080\/\?thrad_click_id=clk_[^&]+&thrad_sig=[^&]+&thrad_exp=\d+$/,
      );
    });

    it.each([
      ['another site', 'https://evil.example.net/p'],
      ['a look-alike host', 'https://shop.example.com.evil.net/p'],
      ['another scheme', 'http://shop.example.com/p'],
      ['another port', 'https://shop.example.com:8443/p'],
      ['credentials in the URL', 'https://user:pw@shop.example.com/p'],
    ])('never redirects to %s: 400', async (_name, url) => {
      const r = await api.request('GET', `/c?tag_id=${f.tagId}&url=${encodeURIComponent(url)}`);
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ detail: "Destination origin is not one of the tag's allowed origins" });
      expect(r.headers.location).toBeUndefined();
    });

    it('refuses a non-http URL and missing fields with 422, an unknown tag with 400', async () => {
      const js = await api.request('GET', `/c?tag_id=${f.tagId}&url=${encodeURIComponent('javascript:alert(1)')}`);
      expect(js.status).toBe(422);
      expect(js.body).toEqual({
        detail: [
          {
            type: 'url_parsing',
            loc: ['query', 'url'],
            msg: 'Input should be a valid URL, relative URL without a base',
            input: 'javascript:alert(1)',
            ctx: { error: 'relative URL without a base' },
          },
        ],
      });
      const missing = await api.request('GET', `/c?url=${encodeURIComponent(ORIGIN)}`);
      expect(missing.status).toBe(422);
      expect(missing.body.detail[0]).toMatchObject({ type: 'missing', loc: ['query', 'tag_id'] });
      const unknown = await api.request('GET', `/c?tag_id=nope&url=${encodeURIComponent(ORIGIN)}`);
      expect(unknown.status).toBe(400);
      expect(unknown.body).toEqual({ detail: 'Unknown tag' });
    });
  });

  describe('GET /tag.js', () => {
    it('is small, cacheable and versioned', async () => {
      const r = await t.app.inject({ method: 'GET', url: '/tag.js' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toBe('application/javascript; charset=utf-8');
      expect(r.headers['cache-control']).toBe('public, max-age=3600, stale-while-revalidate=86400');
      expect(r.headers['x-tag-version']).toMatch(/^\d+\.\d+\.\d+$/);
      expect(r.headers.etag).toMatch(/^"\d+\.\d+\.\d+-[A-Za-z0-9_-]{16}"$/);
      expect(r.body).toContain(`Thrad Tag v${r.headers['x-tag-version']}`);
      const gz = gzipSync(Buffer.from(r.body));
      expect(gunzipSync(gz).toString()).toBe(r.body);
      expect(gz.length).toBeLessThan(3 * 1024);
      const again = await t.app.inject({
        method: 'GET',
        url: '/tag.js',
        headers: { 'if-none-match': r.headers.etag as string },
      });
      expect(again.statusCode).toBe(304);
      expect(again.body).toBe('');
    });
  });

  describe('POST /api/tag/conversion', () => {
    it('records a conversion as source "tag", with no key, and keeps sig/exp out of params.extra', async () => {
      const c = await signedClick(api, f);
      const r = await api.post('/api/tag/conversion', tagBody(c, { event_id: 'e1', coupon: 'X' }), undefined, {
        origin: ORIGIN,
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
      expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
      expect(r.headers.vary).toBe('Origin');
      expect(await rowsOf(t, c.click_id)).toEqual([
        { source: 'tag', event_id: 'e1', params: { extra: { coupon: 'X' } } },
      ]);
    });

    it('accepts text/plain JSON (sendBeacon) and exp as a string', async () => {
      const c = await signedClick(api, f);
      const r = await api.request('POST', '/api/tag/conversion', {
        raw: JSON.stringify(tagBody({ ...c, exp: String(c.exp) }, { order_id: 'o-beacon' })),
        headers: { 'content-type': 'text/plain;charset=UTF-8', origin: ORIGIN },
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
    });

    it('keeps text/plain a 415 on other routes', async () => {
      const c = await makeClick(api, f);
      const r = await api.request('POST', '/api/conversion', {
        raw: JSON.stringify(conversionBody(c)),
        key: f.partnerKey,
        headers: { 'content-type': 'text/plain' },
      });
      expect(r.status).toBe(415);
      expect(r.body).toEqual({ detail: 'Unsupported Media Type' });
      expect(await rowsOf(t, c)).toEqual([]);
    });

    it.each([
      [
        'a tampered signature',
        (c: { sig: string }) => ({ sig: c.sig.slice(0, -2) + (c.sig.endsWith('AA') ? 'BB' : 'AA') }),
      ],
      ['a later exp', (c: { exp: number }) => ({ exp: c.exp + 86400 })],
      ['another click id', () => ({ click_id: 'clk_other' })],
      ['an unknown key id', (c: { sig: string }) => ({ sig: 'kZZZZZZZ' + c.sig.slice(8) })],
      ['no sig', () => ({ sig: undefined })],
      ['no exp', () => ({ exp: undefined })],
      ['a non-numeric exp', () => ({ exp: '12a' })],
      ['a sig of the wrong type', () => ({ sig: 42 })],
    ])('answers 401 Invalid click signature for %s, before any database read', async (_name, change) => {
      const c = await signedClick(api, f);
      const access = jest.spyOn(ClicksService.prototype, 'accessOfClick');
      const record = jest.spyOn(ConversionsService.prototype, 'record');
      const body = { ...tagBody(c, { order_id: 'o' }), ...change(c as never) };
      const r = await api.post('/api/tag/conversion', body, undefined, { origin: ORIGIN });
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Invalid click signature' });
      expect(access).not.toHaveBeenCalled();
      expect(record).not.toHaveBeenCalled();
      expect(await rowsOf(t, c.click_id)).toEqual([]);
    });

    it('answers 401 Click signature expired once exp has passed', async () => {
      const c = await signedClick(api, f);
      t.clock.offsetMs = c.exp * 1000 - Date.now() + 1000;
      const access = jest.spyOn(ClicksService.prototype, 'accessOfClick');
      const r = await api.post('/api/tag/conversion', tagBody(c, { order_id: 'o' }), undefined, { origin: ORIGIN });
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Click signature expired' });
      expect(access).not.toHaveBeenCalled();
    });

    it('takes the same path as the server API: 400 without a bid, 422 on a bad body', async () => {
      const nobid = await signedClick(api, f, null);
      const r = await api.post('/api/tag/conversion', tagBody(nobid), undefined, { origin: ORIGIN });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ detail: 'Click missing bid id' });
      expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
      const c = await signedClick(api, f);
      const bad = await api.post('/api/tag/conversion', tagBody(c, { currency: 'XXXX' }), undefined, {
        origin: ORIGIN,
      });
      expect(bad.status).toBe(422);
      expect(bad.body).toEqual({
        detail: [
          {
            type: 'string_too_long',
            loc: ['body', 'currency'],
            msg: 'String should have at most 3 characters',
            input: 'XXXX',
            ctx: { max_length: 3 },
          },
        ],
      });
      const malformed = await api.request('POST', '/api/tag/conversion', {
        raw: '{"click_id":',
        headers: { origin: ORIGIN },
      });
      expect(malformed.status).toBe(422);
      expect(malformed.body.detail[0].type).toBe('json_invalid');
    });

    it('answers 404 Click not found for a genuine signature of a click that is not stored, and 413 over 64 KiB', async () => {
      const ghost = {
        click_id: 'clk_ghost',
        ...t.app.get(ClicksService).signClick({ click_id: 'clk_ghost', clicked_at: new Date() }),
      };
      const r = await api.post('/api/tag/conversion', tagBody(ghost, { order_id: 'o' }), undefined, { origin: ORIGIN });
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: 'Click not found' });
      const c = await signedClick(api, f);
      const big = JSON.stringify(tagBody(c, { pad: 'x'.repeat(64 * 1024) }));
      const tooBig = await api.request('POST', '/api/tag/conversion', {
        raw: big,
        headers: { 'content-type': 'text/plain', origin: ORIGIN },
      });
      expect(tooBig.status).toBe(413);
      expect(tooBig.body).toEqual({ detail: 'Request body is too large' });
      expect(await rowsOf(t, c.click_id)).toEqual([]);
    });

    it('refuses a browser on an origin the click’s tag does not allow: 403, nothing written', async () => {
      const c = await signedClick(api, f);
      for (const origin of ['https://evil.example.net', 'null']) {
        const r = await api.post('/api/tag/conversion', tagBody(c, { order_id: 'o-evil' }), undefined, { origin });
        expect(r.status).toBe(403);
        expect(r.body).toEqual({ detail: "Origin not allowed for this click's tag" });
        expect(r.headers['access-control-allow-origin']).toBeUndefined();
      }
      expect(await rowsOf(t, c.click_id)).toEqual([]);
    });

    it('does not let another tag’s allowed origin post for this click', async () => {
      const other = await makePartner(api, undefined, ['https://other.example.org']);
      const c = await signedClick(api, f);
      const r = await api.post('/api/tag/conversion', tagBody(c, { order_id: 'o' }), undefined, {
        origin: 'https://other.example.org',
      });
      expect(r.status).toBe(403);
      expect(other.tagId).not.toBe(f.tagId);
    });

    it('answers CORS preflights for allowed origins only', async () => {
      const ok = await t.app.inject({
        method: 'OPTIONS',
        url: '/api/tag/conversion',
        headers: {
          origin: ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      expect(ok.statusCode).toBe(204);
      expect(ok.headers['access-control-allow-origin']).toBe(ORIGIN);
      expect(ok.headers['access-control-allow-methods']).toBe('POST');
      expect(ok.headers['access-control-allow-headers']).toBe('Content-Type');
      expect(ok.headers['access-control-max-age']).toBe('600');
      const no = await t.app.inject({
        method: 'OPTIONS',
        url: '/api/tag/conversion',
        headers: { origin: 'https://evil.example.net', 'access-control-request-method': 'POST' },
      });
      expect(no.statusCode).toBe(403);
      expect(JSON.parse(no.body)).toEqual({ detail: 'Origin not allowed' });
      expect(no.headers['access-control-allow-origin']).toBeUndefined();
    });

    it('dedups against the server API: Tag first, then server answers duplicate', async () => {
      const c = await signedClick(api, f);
      const tag = await api.post('/api/tag/conversion', tagBody(c, { event_id: 'evt_shared' }), undefined, {
        origin: ORIGIN,
      });
      expect(tag.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
      const server = await api.post(
        '/api/conversion',
        conversionBody(c.click_id, { event_id: 'evt_shared' }),
        f.partnerKey,
      );
      expect(server.status).toBe(200);
      expect(server.body).toEqual({
        status: 'duplicate',
        conversion_id: tag.body.conversion_id,
        matched_on: 'event_id',
        // Issue 10: the server's values replace the Tag's (test/tag-server-precedence.e2e.spec.ts).
        superseded: 'tag',
        ...SEED_TIME_WARNING,
      });
      // One row still, now the server's.
      expect((await rowsOf(t, c.click_id)).map((r) => r.source)).toEqual(['api']);
    });

    it('dedups against the server API: server first (order_id), then the Tag answers duplicate', async () => {
      const c = await signedClick(api, f);
      const server = await api.post(
        '/api/conversion',
        conversionBody(c.click_id, { order_id: 'order_77' }),
        f.partnerKey,
        { 'idempotency-key': 'order_77' },
      );
      expect(server.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
      const tag = await api.post('/api/tag/conversion', tagBody(c, { order_id: 'order_77' }), undefined, {
        origin: ORIGIN,
      });
      expect(tag.status).toBe(200);
      expect(tag.body).toEqual({
        status: 'duplicate',
        conversion_id: server.body.conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
      expect((await rowsOf(t, c.click_id)).map((r) => r.source)).toEqual(['api']);
    });
  });
});

describe('Tag endpoint rate limits (e2e)', () => {
  // The requests come through a trusted proxy (inject's 127.0.0.1), which names the client in X-Forwarded-For.
  const {
    t,
    api,
    partner: f,
  } = useTestApp({
    env: {
      TAG_RATE_LIMIT_PER_CLICK: '3',
      TAG_RATE_LIMIT_PER_ADDRESS: '8',
      TAG_RATE_WINDOW: '60s',
      TRUST_PROXY: '127.0.0.1',
    },
  });

  it('limits one click, then one client address, with 429 and Retry-After', async () => {
    const c = await signedClick(api, f);
    const ip = { 'x-forwarded-for': '203.0.113.7', origin: ORIGIN };
    for (let i = 0; i < 3; i++) {
      const r = await api.post('/api/tag/conversion', tagBody(c, { event_id: `e${i}` }), undefined, ip);
      expect(r.status).toBe(200);
    }
    const limited = await api.post('/api/tag/conversion', tagBody(c, { event_id: 'e3' }), undefined, ip);
    expect(limited.status).toBe(429);
    expect(limited.body).toEqual({ detail: 'Too many requests' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(await rowsOf(t, c.click_id)).toHaveLength(3);
    // The same click from another address is still limited; another click is not.
    const elsewhere = await api.post('/api/tag/conversion', tagBody(c, { event_id: 'e4' }), undefined, {
      'x-forwarded-for': '198.51.100.1',
      origin: ORIGIN,
    });
    expect(elsewhere.status).toBe(429);
    const c2 = await signedClick(api, f);
    // Address 203.0.113.7 has used 4 of 8; forged requests count too (the address limit runs before the signature check).
    for (let i = 0; i < 3; i++) {
      const r = await api.post('/api/tag/conversion', tagBody(c2, { sig: 'forged' }), undefined, ip);
      expect(r.status).toBe(401);
    }
    const last = await api.post('/api/tag/conversion', tagBody(c2, { event_id: 'x' }), undefined, ip);
    expect(last.status).toBe(200);
    const over = await api.post('/api/tag/conversion', tagBody(c2, { event_id: 'y' }), undefined, ip);
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ detail: 'Too many requests' });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });
});
