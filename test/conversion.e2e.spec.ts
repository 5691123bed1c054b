import { randomUUID } from 'node:crypto';
import { conversionBody, makeClick, makePartner, SEED_TIME_WARNING } from './api-client';
import { conversionRows, countConversions } from './db';
import { ADMIN_KEY, onPostgres, useTestApp } from './test-app';

describe('POST /api/conversion (e2e)', () => {
  const {
    t,
    api,
    partners: [f, other],
  } = useTestApp({ env: { DEDUP_WINDOW: '7d' }, partners: 2 });
  afterEach(() => {
    t.clock.fixed = undefined;
  });

  const post = (body: unknown, key = f.partnerKey, headers?: Record<string, string>) =>
    api.post('/api/conversion', body, key, headers);

  describe('the seed example', () => {
    it('answers ok, then its retry duplicate, writing one row', async () => {
      const click = await makeClick(api, f);
      const body = conversionBody(click, { order_id: 'order_123', event_type: 'purchase_completed' });
      const first = await post(body, f.partnerKey, { 'idempotency-key': 'order_123' });
      expect(first.status).toBe(200);
      expect(first.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
      const retry = await post(body, f.partnerKey, { 'idempotency-key': 'order_123' });
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual({
        status: 'duplicate',
        conversion_id: first.body.conversion_id,
        matched_on: 'idempotency_key',
        ...SEED_TIME_WARNING,
      });
      expect(await conversionRows(t, click)).toHaveLength(1);
    });
  });

  describe('auth (401 / 403)', () => {
    it('401 Missing bearer token without Authorization, with WWW-Authenticate', async () => {
      const r = await api.post('/api/conversion', conversionBody('clk_x'));
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Missing bearer token' });
      expect(r.headers['www-authenticate']).toBe('Bearer');
    });

    it('401 Missing bearer token for a malformed Authorization header', async () => {
      for (const h of ['Basic abc', 'Bearer', 'Bearer ', 'token']) {
        const r = await api.request('POST', '/api/conversion', {
          body: conversionBody('c'),
          headers: { authorization: h },
        });
        expect(r.status).toBe(401);
        expect(r.body).toEqual({ detail: 'Missing bearer token' });
      }
    });

    it('401 Invalid API key for an unknown key, with WWW-Authenticate', async () => {
      const r = await post(conversionBody('clk_x'), 'thr_pk_not-a-key');
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Invalid API key' });
      expect(r.headers['www-authenticate']).toBe('Bearer');
    });

    it('403 for valid keys of other roles', async () => {
      for (const key of [f.ingestKey, ADMIN_KEY]) {
        const r = await post(conversionBody('clk_x'), key);
        expect(r.status).toBe(403);
        expect(r.body).toEqual({ detail: 'This API key may not call this endpoint' });
      }
    });

    it('a revoked key is 401 at once', async () => {
      const k = await api.post(
        '/admin/keys',
        { role: 'partner', partner_id: f.partnerId, name: 'to revoke' },
        ADMIN_KEY,
      );
      const click = await makeClick(api, f);
      expect((await post(conversionBody(click), k.body.key)).status).toBe(200);
      const del = await api.request('DELETE', `/admin/keys/${k.body.id}`, { key: ADMIN_KEY });
      expect(del.status).toBe(204);
      const r = await post(conversionBody(click), k.body.key);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Invalid API key' });
    });

    it('auth is checked before the body: no key and malformed JSON is 401', async () => {
      const r = await api.request('POST', '/api/conversion', {
        raw: '{"click_id":',
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(401);
    });
  });

  describe('body (422, Pydantic shape)', () => {
    it('reports every missing required field', async () => {
      const r = await post({});
      expect(r.status).toBe(422);
      expect(r.body).toEqual({
        detail: ['click_id', 'conversion_time', 'conversion_value', 'currency'].map((field) => ({
          type: 'missing',
          loc: ['body', field],
          msg: 'Field required',
          input: {},
        })),
      });
    });

    it('malformed JSON is 422 json_invalid', async () => {
      const r = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: '{"click_id": "a",',
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(422);
      expect(r.body.detail).toHaveLength(1);
      expect(r.body.detail[0]).toMatchObject({
        type: 'json_invalid',
        loc: ['body', expect.any(Number)],
        msg: 'JSON decode error',
        input: {},
      });
    });

    it('non-object bodies are 422 model_attributes_type; an empty body is missing', async () => {
      for (const raw of ['[1,2]', '"text"', '42', 'true']) {
        const r = await api.request('POST', '/api/conversion', {
          key: f.partnerKey,
          raw,
          headers: { 'content-type': 'application/json' },
        });
        expect(r.status).toBe(422);
        expect(r.body).toEqual({
          detail: [
            {
              type: 'model_attributes_type',
              loc: ['body'],
              msg: 'Input should be a valid dictionary or object to extract fields from',
              input: JSON.parse(raw),
            },
          ],
        });
      }
      for (const raw of ['', 'null']) {
        const r = await api.request('POST', '/api/conversion', {
          key: f.partnerKey,
          raw,
          headers: { 'content-type': 'application/json' },
        });
        expect(r.status).toBe(422);
        expect(r.body).toEqual({ detail: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] });
      }
    });

    it('wrong types are reported per field with the input', async () => {
      const r = await post({ click_id: 5, conversion_time: true, conversion_value: [1], currency: 840 });
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([
        { type: 'string_type', loc: ['body', 'click_id'], msg: 'Input should be a valid string', input: 5 },
        {
          type: 'datetime_type',
          loc: ['body', 'conversion_time'],
          msg: 'Input should be a valid datetime',
          input: true,
        },
        { type: 'float_type', loc: ['body', 'conversion_value'], msg: 'Input should be a valid number', input: [1] },
        { type: 'string_type', loc: ['body', 'currency'], msg: 'Input should be a valid string', input: 840 },
      ]);
    });

    it('conversion_value must be finite; numeric strings are accepted', async () => {
      for (const v of ['NaN', 'Infinity', '-inf', 'nan']) {
        const r = await post(conversionBody('c', { conversion_value: v }));
        expect(r.status).toBe(422);
        expect(r.body.detail).toEqual([
          {
            type: 'finite_number',
            loc: ['body', 'conversion_value'],
            msg: 'Input should be a finite number',
            input: v,
          },
        ]);
      }
      const tooBig = await post(conversionBody('c', { conversion_value: 1e300 }));
      expect(tooBig.status).toBe(422);
      expect(tooBig.body.detail[0]).toMatchObject({ type: 'less_than', loc: ['body', 'conversion_value'] });
      const notNumber = await post(conversionBody('c', { conversion_value: '12,50' }));
      expect(notNumber.body.detail[0]).toMatchObject({ type: 'float_parsing', input: '12,50' });
      const click = await makeClick(api, f);
      const ok = await post(conversionBody(click, { conversion_value: '19.90' }));
      expect(ok.body.status).toBe('ok');
      expect((await conversionRows(t, click))[0].conversion_value).toMatch(/^19\.90*$/);
    });

    it('currency is ISO 4217, case-insensitive, stored upper-case', async () => {
      const bad = await post(conversionBody('c', { currency: 'ABC' }));
      expect(bad.status).toBe(422);
      expect(bad.body.detail).toEqual([
        {
          type: 'value_error',
          loc: ['body', 'currency'],
          msg: 'Value error, not a valid ISO 4217 currency code',
          input: 'ABC',
          ctx: { error: 'not a valid ISO 4217 currency code' },
        },
      ]);
      const click = await makeClick(api, f);
      expect((await post(conversionBody(click, { currency: 'eur' }))).body.status).toBe('ok');
      expect((await conversionRows(t, click))[0].currency).toBe('EUR');
    });

    it('conversion_time: bad dates are 422; no offset means UTC; stored in UTC', async () => {
      for (const v of ['2026-02-30T00:00:00Z', 'yesterday', '2026-05-26T25:00:00Z', '']) {
        const r = await post(conversionBody('c', { conversion_time: v }));
        expect(r.status).toBe(422);
        expect(r.body.detail[0]).toMatchObject({
          type: 'datetime_from_date_parsing',
          loc: ['body', 'conversion_time'],
          input: v,
        });
      }
      const c1 = await makeClick(api, f);
      await post(conversionBody(c1, { conversion_time: '2026-05-26T14:34:56.123+02:00' }));
      const c2 = await makeClick(api, f);
      await post(conversionBody(c2, { conversion_time: '2026-05-26T12:34:56.123' }));
      for (const c of [c1, c2]) {
        const [row] = await conversionRows(t, c);
        const stored =
          row.conversion_time instanceof Date ? row.conversion_time.toISOString() : String(row.conversion_time);
        expect(stored).toMatch(/^2026-05-26[T ]12:34:56\.123/);
      }
    });

    it('string length limits are 422 (255 for ids and keys)', async () => {
      const r = await post(conversionBody('x'.repeat(256), { order_id: 'o'.repeat(256) }));
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([
        {
          type: 'string_too_long',
          loc: ['body', 'click_id'],
          msg: 'String should have at most 255 characters',
          input: 'x'.repeat(256),
          ctx: { max_length: 255 },
        },
        {
          type: 'string_too_long',
          loc: ['body', 'order_id'],
          msg: 'String should have at most 255 characters',
          input: 'o'.repeat(256),
          ctx: { max_length: 255 },
        },
      ]);
    });

    it('the Idempotency-Key header is validated (loc header)', async () => {
      const long = await post(conversionBody('c'), f.partnerKey, { 'idempotency-key': 'k'.repeat(256) });
      expect(long.status).toBe(422);
      expect(long.body.detail).toEqual([
        {
          type: 'string_too_long',
          loc: ['header', 'idempotency-key'],
          msg: 'String should have at most 255 characters',
          input: 'k'.repeat(256),
          ctx: { max_length: 255 },
        },
      ]);
      const empty = await post(conversionBody('c'), f.partnerKey, { 'idempotency-key': '' });
      expect(empty.status).toBe(422);
      expect(empty.body.detail[0]).toMatchObject({ type: 'string_too_short', loc: ['header', 'idempotency-key'] });
    });

    it('text PostgreSQL cannot store is 422, anywhere in the body', async () => {
      const r1 = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: JSON.stringify(conversionBody('c', { note: { deep: 'a\u0000b' } })),
        headers: { 'content-type': 'application/json' },
      });
      expect(r1.status).toBe(422);
      expect(r1.body.detail[0]).toMatchObject({ type: 'string_unicode', loc: ['body', 'note', 'deep'] });
      const r2 = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: '{"click_id":"\\ud800","conversion_time":"2026-05-26T12:34:56Z","conversion_value":1,"currency":"USD"}',
        headers: { 'content-type': 'application/json' },
      });
      expect(r2.status).toBe(422);
      expect(r2.body.detail[0]).toMatchObject({ type: 'string_unicode', loc: ['body', 'click_id'] });
    });

    it('a body of exactly 64 KiB is accepted; one byte more is 413', async () => {
      const click = await makeClick(api, f);
      const base = JSON.stringify(conversionBody(click, { pad: '' }));
      const exact = base.replace('"pad":""', `"pad":"${'p'.repeat(64 * 1024 - base.length)}"`);
      expect(Buffer.byteLength(exact)).toBe(65536);
      const ok = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: exact,
        headers: { 'content-type': 'application/json' },
      });
      expect(ok.status).toBe(200);
      expect(ok.body.status).toBe('ok');
      const over = exact.replace('"pad":"', '"pad":"p');
      const r = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: over,
        headers: { 'content-type': 'application/json' },
      });
      expect(r.status).toBe(413);
      expect(r.body).toEqual({ detail: expect.any(String) });
    });

    it("a tag_id that is not one of the caller's tags is 422 on tag_id", async () => {
      const click = await makeClick(api, f);
      const r = await post(conversionBody(click, { tag_id: other.tagId }));
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([
        {
          type: 'value_error',
          loc: ['body', 'tag_id'],
          msg: 'Value error, not one of your tags',
          input: other.tagId,
          ctx: { error: 'not one of your tags' },
        },
      ]);
      expect(await conversionRows(t, click)).toHaveLength(0);
      const ok = await post(conversionBody(click, { tag_id: f.tagId }));
      expect(ok.body.status).toBe('ok');
    });

    it('other content types are 415', async () => {
      const r = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: 'a=b',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(r.status).toBe(415);
      expect(r.body).toEqual({ detail: expect.any(String) });
      const html = await api.request('POST', '/api/conversion', {
        key: f.partnerKey,
        raw: '<p>',
        headers: { 'content-type': 'text/html' },
      });
      expect(html.status).toBe(415);
    });
  });

  describe('click (404) and bid (400)', () => {
    it('404 Click not found for an unknown click', async () => {
      const r = await post(conversionBody(`clk_${randomUUID()}`));
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: 'Click not found' });
    });

    it("404 for another partner's click, never revealing it exists (even without a bid)", async () => {
      const theirs = await makeClick(api, other);
      const theirsNoBid = await makeClick(api, other, { bid_id: null });
      for (const c of [theirs, theirsNoBid]) {
        const r = await post(conversionBody(c));
        expect(r.status).toBe(404);
        expect(r.body).toEqual({ detail: 'Click not found' });
        expect(await conversionRows(t, c)).toHaveLength(0);
      }
    });

    it('400 Click missing bid id, then ok once the bid is attached late', async () => {
      const click = await makeClick(api, f, { bid_id: null });
      const r = await post(conversionBody(click, { order_id: 'late-bid' }));
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ detail: 'Click missing bid id' });
      expect(await conversionRows(t, click)).toHaveLength(0);
      const patch = await api.request('PATCH', `/api/clicks/${click}`, {
        key: f.ingestKey,
        body: { bid_id: 'bid_late' },
      });
      expect(patch.status).toBe(200);
      expect(patch.body.bid_id).toBe('bid_late');
      const ok = await post(conversionBody(click, { order_id: 'late-bid' }));
      expect(ok.body.status).toBe('ok');
      expect((await conversionRows(t, click))[0].bid_id).toBe('bid_late');
    });

    it('checks the body before the click: an invalid body on an unknown click is 422', async () => {
      const r = await post({ click_id: 'nope', conversion_time: 'x', conversion_value: 1, currency: 'USD' });
      expect(r.status).toBe(422);
    });
  });

  describe('what is stored', () => {
    it('keeps unknown keys under params.extra exactly as sent, nested values included', async () => {
      const click = await makeClick(api, f);
      const extra = {
        coupon: 'SPRING',
        items: [{ sku: 'A-1', qty: 2, price: 10.5 }],
        flags: { vip: true, note: null },
        ünï: '✓ "q", x\ny',
      };
      const r = await post(conversionBody(click, { ...extra, page_url: 'https://shop.example.com/done' }));
      expect(r.body.status).toBe('ok');
      const [row] = await conversionRows(t, click);
      const params = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
      expect(params).toEqual({ extra });
      expect(row.page_url).toBe('https://shop.example.com/done');
    });

    it('keeps sig and exp of a server body under params.extra too (only the Tag drops its own signed click)', async () => {
      const click = await makeClick(api, f);
      const r = await post(conversionBody(click, { sig: 'partner-own-sig', exp: 42 }));
      expect(r.body.status).toBe('ok');
      const [row] = await conversionRows(t, click);
      const params = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
      expect(params).toEqual({ extra: { sig: 'partner-own-sig', exp: 42 } });
    });

    it('defaults event_type to purchase_completed; null optional fields are absent', async () => {
      const click = await makeClick(api, f);
      const r = await post(
        conversionBody(click, { event_type: null, order_id: null, event_id: null, tag_id: null, page_url: null }),
      );
      expect(r.body.status).toBe('ok');
      const [row] = await conversionRows(t, click);
      expect(row.event_type).toBe('purchase_completed');
      expect(row.order_id).toBeNull();
      expect(row.dedup_key).toBeNull();
      expect(row.tag_id).toBe(f.tagId);
      expect(row.source).toBe('api');
      const params = typeof row.params === 'string' ? JSON.parse(row.params) : row.params;
      expect(params).toEqual({ extra: {} });
    });

    it('stores money exactly, as a decimal', async () => {
      const click = await makeClick(api, f);
      await post(conversionBody(click, { conversion_value: '1234567890.123456' }));
      const [row] = await conversionRows(t, click);
      expect(String(row.conversion_value)).toMatch(/^1234567890\.123456$/);
      const c2 = await makeClick(api, f);
      await post(conversionBody(c2, { conversion_value: 0.1 }));
      expect(String((await conversionRows(t, c2))[0].conversion_value)).toMatch(/^0?\.10*$/);
    });
  });

  describe('deduplication', () => {
    it('uses event_id when no header is sent, and order_id when neither is', async () => {
      const click = await makeClick(api, f);
      const a = await post(conversionBody(click, { event_id: 'e1', order_id: 'o1' }));
      expect(a.body.status).toBe('ok');
      const b = await post(conversionBody(click, { event_id: 'e1', order_id: 'o2' }));
      expect(b.body).toEqual({
        status: 'duplicate',
        conversion_id: a.body.conversion_id,
        matched_on: 'event_id',
        ...SEED_TIME_WARNING,
      });
      const c = await post(conversionBody(click, { order_id: 'o9' }));
      expect(c.body.status).toBe('ok');
      const d = await post(conversionBody(click, { order_id: 'o9' }));
      expect(d.body).toEqual({
        status: 'duplicate',
        conversion_id: c.body.conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
      expect(await conversionRows(t, click)).toHaveLength(2);
    });

    it('the header takes precedence over event_id and order_id', async () => {
      const click = await makeClick(api, f);
      const a = await post(conversionBody(click, { event_id: 'same', order_id: 'same' }), f.partnerKey, {
        'idempotency-key': 'h1',
      });
      const b = await post(conversionBody(click, { event_id: 'same', order_id: 'same' }), f.partnerKey, {
        'idempotency-key': 'h2',
      });
      expect(a.body.status).toBe('ok');
      expect(b.body.status).toBe('ok');
      expect(await conversionRows(t, click)).toHaveLength(2);
    });

    it('a key is a value whichever layer it came from: header order_123 then a retry with only order_id', async () => {
      const click = await makeClick(api, f);
      const a = await post(conversionBody(click, { order_id: 'order_123' }), f.partnerKey, {
        'idempotency-key': 'order_123',
      });
      const b = await post(conversionBody(click, { order_id: 'order_123' }));
      expect(b.body).toEqual({
        status: 'duplicate',
        conversion_id: a.body.conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
    });

    it('is scoped to click_id and event_type', async () => {
      const c1 = await makeClick(api, f);
      const c2 = await makeClick(api, f);
      expect((await post(conversionBody(c1, { order_id: 'k' }))).body.status).toBe('ok');
      expect((await post(conversionBody(c2, { order_id: 'k' }))).body.status).toBe('ok');
      expect((await post(conversionBody(c1, { order_id: 'k', event_type: 'lead_created' }))).body.status).toBe('ok');
      expect((await post(conversionBody(c1, { order_id: 'k', event_type: 'purchase_completed' }))).body.status).toBe(
        'duplicate',
      );
    });

    it("without any key, every request writes a row (the seed's documented behaviour)", async () => {
      const click = await makeClick(api, f);
      expect((await post(conversionBody(click))).body.status).toBe('ok');
      expect((await post(conversionBody(click))).body.status).toBe('ok');
      expect(await conversionRows(t, click)).toHaveLength(2);
    });

    it('a duplicate writes nothing, even when its other fields differ', async () => {
      const click = await makeClick(api, f);
      await post(conversionBody(click, { order_id: 'x1', conversion_value: 10 }));
      const before = await countConversions(t);
      const dup = await post(conversionBody(click, { order_id: 'x1', conversion_value: 999, extra_field: 1 }));
      expect(dup.body.status).toBe('duplicate');
      expect(await countConversions(t)).toBe(before);
      expect(String((await conversionRows(t, click))[0].conversion_value)).toMatch(/^10(\.0+)?$/);
    });

    it('the window is exact at its edge (7 days): one ms before it matches, at it a new row is written', async () => {
      const click = await makeClick(api, f);
      const t0 = new Date('2030-01-01T00:00:00.000Z');
      const week = 7 * 86_400_000;
      t.clock.fixed = t0;
      const a = await post(conversionBody(click, { order_id: 'edge' }));
      expect(a.body.status).toBe('ok');
      t.clock.fixed = new Date(t0.getTime() + week - 1);
      const b = await post(conversionBody(click, { order_id: 'edge' }));
      expect(b.body).toEqual({
        status: 'duplicate',
        conversion_id: a.body.conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
      t.clock.fixed = new Date(t0.getTime() + week);
      const c = await post(conversionBody(click, { order_id: 'edge' }));
      expect(c.body.status).toBe('ok');
      expect(c.body.conversion_id).not.toBe(a.body.conversion_id);
      // The new claim starts a new window.
      t.clock.fixed = new Date(t0.getTime() + week + 1000);
      const d = await post(conversionBody(click, { order_id: 'edge' }));
      expect(d.body).toEqual({
        status: 'duplicate',
        conversion_id: c.body.conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
      expect(await conversionRows(t, click)).toHaveLength(2);
    });
  });

  it(`runs on ${onPostgres ? 'PostgreSQL' : 'SQLite'}`, () => {
    expect(t.config.databaseUrl !== undefined).toBe(onPostgres);
  });
});

describe('DEDUP_WINDOW is configurable', () => {
  const { t, api } = useTestApp({ env: { DEDUP_WINDOW: '1h' }, partners: 0 });

  it('a 1h window no longer matches after an hour', async () => {
    const f = await makePartner(api);
    const click = await makeClick(api, f);
    const t0 = new Date('2031-01-01T00:00:00.000Z');
    t.clock.fixed = t0;
    expect(
      (await api.post('/api/conversion', conversionBody(click, { event_id: 'w' }), f.partnerKey)).body.status,
    ).toBe('ok');
    t.clock.fixed = new Date(t0.getTime() + 3_599_999);
    expect(
      (await api.post('/api/conversion', conversionBody(click, { event_id: 'w' }), f.partnerKey)).body.status,
    ).toBe('duplicate');
    t.clock.fixed = new Date(t0.getTime() + 3_600_000);
    expect(
      (await api.post('/api/conversion', conversionBody(click, { event_id: 'w' }), f.partnerKey)).body.status,
    ).toBe('ok');
  });
});
