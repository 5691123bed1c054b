import { makeClick } from './api-client';
import { makeConversion, makeKey, uniqueWindow } from './admin-helpers';
import { ADMIN_KEY, useTestApp } from './test-app';

describe('Admin conversion reads (e2e)', () => {
  const {
    api,
    partners: [a, b],
  } = useTestApp({ partners: 2 });
  let support: string;
  const get = (url: string, key: string) => api.request('GET', url, { key });

  beforeAll(async () => {
    support = (await makeKey(api, 'support')).key;
  });

  describe('roles', () => {
    it('support and admin keys read; partner and ingest keys get 403; no key 401', async () => {
      // The export names one partner: this is a test of roles, and a whole-database export (30,000
      // rows once admin-export has run, asked of every shard on Citus, twice) is not what it checks.
      for (const url of [
        '/admin/conversions',
        '/admin/partners',
        '/admin/keys',
        '/admin/audit',
        `/admin/conversions/export.csv?partner_id=${a.partnerId}`,
      ]) {
        expect((await get(url, support)).status).toBe(200);
        expect((await get(url, ADMIN_KEY)).status).toBe(200);
        const p = await get(url, a.partnerKey);
        expect(p).toMatchObject({ status: 403, body: { detail: 'This API key may not call this endpoint' } });
        expect((await get(url, a.ingestKey)).status).toBe(403);
        const none = await api.request('GET', url);
        expect(none.status).toBe(401);
        expect(none.body).toEqual({ detail: 'Missing bearer token' });
        expect(none.headers['www-authenticate']).toBe('Bearer');
      }
    });

    it('GET /api/conversions is for partner keys only', async () => {
      expect((await get('/api/conversions', support)).status).toBe(403);
      expect((await get('/api/conversions', ADMIN_KEY)).status).toBe(403);
      expect((await get('/api/conversions', a.ingestKey)).status).toBe(403);
      expect((await get('/api/conversions', a.partnerKey)).status).toBe(200);
    });
  });

  describe('filters', () => {
    let w: ReturnType<typeof uniqueWindow>;
    let clickA1: string;
    let clickA2: string;
    let clickB: string;
    const ids: Record<string, string> = {};

    beforeAll(async () => {
      w = uniqueWindow();
      const at = (min: number) => new Date(w.base + min * 60_000).toISOString();
      clickA1 = await makeClick(api, a);
      clickA2 = await makeClick(api, a);
      clickB = await makeClick(api, b);
      ids.a1 = await makeConversion(api, a, clickA1, { conversion_time: at(1), order_id: 'ord-1' });
      ids.a2 = await makeConversion(api, a, clickA1, {
        conversion_time: at(2),
        order_id: 'ord-2',
        event_type: 'lead_created',
      });
      ids.a3 = await makeConversion(api, a, clickA2, { conversion_time: at(3), order_id: 'ord-3' });
      ids.b1 = await makeConversion(api, b, clickB, { conversion_time: at(4), order_id: 'ord-1' });
    });

    const list = async (qs: string, key = support) => {
      const r = await get(`/admin/conversions?from=${w.from}&to=${w.to}&${qs}`, key);
      expect(r.status).toBe(200);
      return (r.body.items as { id: string }[]).map((i) => i.id);
    };

    it('no filter but the window: every row, newest first', async () => {
      expect(await list('')).toEqual([ids.b1, ids.a3, ids.a2, ids.a1]);
    });

    it('each filter narrows', async () => {
      expect(await list(`partner_id=${a.partnerId}`)).toEqual([ids.a3, ids.a2, ids.a1]);
      expect(await list(`tag_id=${b.tagId}`)).toEqual([ids.b1]);
      expect(await list(`click_id=${clickA1}`)).toEqual([ids.a2, ids.a1]);
      expect(await list('order_id=ord-1')).toEqual([ids.b1, ids.a1]);
      expect(await list('event_type=lead_created')).toEqual([ids.a2]);
      expect(await list('source=api')).toEqual([ids.b1, ids.a3, ids.a2, ids.a1]);
      expect(await list('source=tag')).toEqual([]);
      expect(await list(`partner_id=${a.partnerId}&order_id=ord-1`)).toEqual([ids.a1]);
    });

    it('from is inclusive, to exclusive', async () => {
      const at = (min: number) => new Date(w.base + min * 60_000).toISOString();
      const r = await get(`/admin/conversions?from=${at(2)}&to=${at(4)}`, support);
      expect(r.body.items.map((i: { id: string }) => i.id)).toEqual([ids.a3, ids.a2]);
      // An offset is honoured: 01:02 at +01:00 is 00:02 UTC.
      const off = new Date(w.base + 2 * 60_000 + 3_600_000).toISOString().replace('Z', '+01:00');
      const r2 = await get(`/admin/conversions?from=${encodeURIComponent(off)}&to=${at(3)}`, support);
      expect(r2.body.items.map((i: { id: string }) => i.id)).toEqual([ids.a2]);
    });

    it('items carry the whole row but params', async () => {
      const r = await get(`/admin/conversions?click_id=${clickA1}&limit=1`, support);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        items: [
          {
            id: ids.a2,
            partner_id: a.partnerId,
            tag_id: a.tagId,
            click_id: clickA1,
            bid_id: expect.stringMatching(/^bid_/),
            source: 'api',
            event_type: 'lead_created',
            conversion_time: new Date(w.base + 2 * 60_000).toISOString(),
            conversion_value: '99.99',
            currency: 'USD',
            order_id: 'ord-2',
            event_id: null,
            dedup_key: 'ord-2',
            dedup_layer: 'order_id',
            page_url: null,
            referrer: null,
            user_agent: null,
            session_id: null,
            client_id: null,
            created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
            attribution_status: 'outside_window', // w.base is long after a click registered today (issue 12)
            mode: 'live',
            // Never adjusted (issue 13): the net value is the value as sent.
            current_value: '99.99',
            status: 'active',
            adjusted_at: null,
            adjustment_count: 0,
          },
        ],
        next_cursor: expect.any(String),
      });
    });

    it('a partner lists only its own rows, whatever partner_id it passes', async () => {
      const r = await get(`/api/conversions?from=${w.from}&to=${w.to}`, a.partnerKey);
      expect(r.status).toBe(200);
      expect(r.body.items.map((i: { id: string }) => i.id)).toEqual([ids.a3, ids.a2, ids.a1]);
      const sneaky = await get(`/api/conversions?from=${w.from}&to=${w.to}&partner_id=${b.partnerId}`, a.partnerKey);
      expect(sneaky.body.items.map((i: { id: string }) => i.id)).toEqual([ids.a3, ids.a2, ids.a1]);
      const otherTag = await get(`/api/conversions?tag_id=${b.tagId}`, a.partnerKey);
      expect(otherTag.body).toEqual({ items: [], next_cursor: null });
      const otherClick = await get(`/api/conversions?click_id=${clickB}`, a.partnerKey);
      expect(otherClick.body).toEqual({ items: [], next_cursor: null });
      const bOwn = await get(`/api/conversions?order_id=ord-1`, b.partnerKey);
      expect(bOwn.body.items.map((i: { id: string }) => i.id)).toEqual([ids.b1]);
    });

    it('GET /admin/conversions/{id}: the whole row with params.extra and the click', async () => {
      const click = await makeClick(api, a);
      const id = await makeConversion(
        api,
        a,
        click,
        {
          conversion_time: new Date(w.base).toISOString(),
          event_id: 'evt-1',
          coupon: 'SPRING',
          nested: { a: [1, 'x'] },
          page_url: 'https://shop.example.com/done',
        },
        { 'idempotency-key': 'idem-1' },
      );
      const r = await get(`/admin/conversions/${id}`, support);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(
        expect.objectContaining({
          id,
          click_id: click,
          event_id: 'evt-1',
          dedup_key: 'idem-1',
          dedup_layer: 'idempotency_key',
          page_url: 'https://shop.example.com/done',
          params: { extra: { coupon: 'SPRING', nested: { a: [1, 'x'] } } },
          click: {
            click_id: click,
            tag_id: a.tagId,
            partner_id: a.partnerId,
            bid_id: r.body.bid_id,
            clicked_at: expect.any(String),
            landing_url: null,
            created_at: expect.any(String),
          },
        }),
      );
      expect(r.body.bid_id).toMatch(/^bid_/);
      const missing = await get('/admin/conversions/00000000-0000-0000-0000-000000000000', support);
      expect(missing).toMatchObject({ status: 404, body: { detail: 'Conversion not found' } });
    });

    it('GET /admin/clicks/{click_id}: the click and every conversion on it', async () => {
      const r = await get(`/admin/clicks/${clickA1}`, support);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        click_id: clickA1,
        tag_id: a.tagId,
        partner_id: a.partnerId,
        bid_id: expect.stringMatching(/^bid_/),
      });
      expect(r.body.conversions.map((c: { id: string }) => c.id)).toEqual([ids.a2, ids.a1]);
      const none = await makeClick(api, a);
      expect((await get(`/admin/clicks/${none}`, support)).body).toMatchObject({ click_id: none, conversions: [] });
      const missing = await get('/admin/clicks/clk_nope', support);
      expect(missing).toMatchObject({ status: 404, body: { detail: 'Click not found' } });
    });
  });

  describe('keyset pagination', () => {
    it('walks every row exactly once while new rows (newer, older, same instant) arrive between pages', async () => {
      const w = uniqueWindow();
      const click = await makeClick(api, a);
      const initial: { id: string; time: string }[] = [];
      // 23 rows over 12 distinct instants: ties on conversion_time are broken by id.
      for (let i = 0; i < 23; i++) {
        const time = new Date(w.base + Math.floor(i / 2) * 1000).toISOString();
        initial.push({ id: await makeConversion(api, a, click, { conversion_time: time }), time });
      }
      const seen: { id: string; conversion_time: string }[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const qs: string =
          `partner_id=${a.partnerId}&from=${w.from}&to=${w.to}&limit=4` + (cursor ? `&cursor=${cursor}` : '');
        const r = await get(`/admin/conversions?${qs}`, support);
        expect(r.status).toBe(200);
        expect(r.body.items.length).toBeLessThanOrEqual(4);
        seen.push(...r.body.items);
        cursor = r.body.next_cursor;
        pages++;
        // Rows arrive meanwhile: newest of all, oldest of all, and at the instant of the page's last row.
        const lastTime = r.body.items.length
          ? r.body.items[r.body.items.length - 1].conversion_time
          : new Date(w.base).toISOString();
        await makeConversion(api, a, click, { conversion_time: new Date(w.base + 60_000 + pages).toISOString() });
        await makeConversion(api, a, click, { conversion_time: new Date(w.base - 60_000 - pages).toISOString() });
        await makeConversion(api, a, click, { conversion_time: lastTime });
      } while (cursor && pages < 100);
      const ids = seen.map((s) => s.id);
      expect(new Set(ids).size).toBe(ids.length); // nothing repeated
      for (const row of initial) expect(ids).toContain(row.id); // nothing missed
      // Newest first throughout.
      const times = seen.map((s) => Date.parse(s.conversion_time));
      expect(times).toEqual([...times].sort((x, y) => y - x));
      // The rows that existed at the start come in order, ties by id descending.
      const firstSeen = seen.filter((s) => initial.some((i) => i.id === s.id)).map((s) => s.id);
      const expected = [...initial]
        .sort((x, y) => (x.time === y.time ? (x.id < y.id ? 1 : -1) : x.time < y.time ? 1 : -1))
        .map((i) => i.id);
      expect(firstSeen).toEqual(expected);
    });

    it('the last page says next_cursor null, also when it is exactly full', async () => {
      const w = uniqueWindow();
      const click = await makeClick(api, b);
      for (let i = 0; i < 3; i++)
        await makeConversion(api, b, click, { conversion_time: new Date(w.base + i).toISOString() });
      const r = await get(`/admin/conversions?from=${w.from}&to=${w.to}`, support);
      expect(r.body.items).toHaveLength(3);
      expect(r.body.next_cursor).toBeNull();
      const p1 = await get(`/admin/conversions?from=${w.from}&to=${w.to}&limit=3`, support);
      expect(p1.body.next_cursor).toBeNull();
      const p2 = await get(`/admin/conversions?from=${w.from}&to=${w.to}&limit=2`, support);
      const p3 = await get(
        `/admin/conversions?from=${w.from}&to=${w.to}&limit=2&cursor=${p2.body.next_cursor}`,
        support,
      );
      expect(p3.body.items).toHaveLength(1);
      expect(p3.body.next_cursor).toBeNull();
      // The partner route pages the same way.
      const q1 = await get(`/api/conversions?from=${w.from}&to=${w.to}&limit=2`, b.partnerKey);
      const q2 = await get(
        `/api/conversions?from=${w.from}&to=${w.to}&limit=2&cursor=${q1.body.next_cursor}`,
        b.partnerKey,
      );
      expect([...q1.body.items, ...q2.body.items].map((i: { id: string }) => i.id)).toEqual(
        [...p2.body.items, ...p3.body.items].map((i: { id: string }) => i.id),
      );
      expect(q2.body.next_cursor).toBeNull();
    });
  });

  describe('bad query values are 422 in the contract shape', () => {
    const cases: [string, object][] = [
      [
        'limit=0',
        {
          type: 'greater_than_equal',
          loc: ['query', 'limit'],
          msg: 'Input should be greater than or equal to 1',
          input: '0',
          ctx: { ge: 1 },
        },
      ],
      [
        'limit=501',
        {
          type: 'less_than_equal',
          loc: ['query', 'limit'],
          msg: 'Input should be less than or equal to 500',
          input: '501',
          ctx: { le: 500 },
        },
      ],
      [
        'limit=ten',
        {
          type: 'int_parsing',
          loc: ['query', 'limit'],
          msg: 'Input should be a valid integer, unable to parse string as an integer',
          input: 'ten',
        },
      ],
      [
        'limit=1.5',
        {
          type: 'int_parsing',
          loc: ['query', 'limit'],
          msg: 'Input should be a valid integer, unable to parse string as an integer',
          input: '1.5',
        },
      ],
      [
        'source=email',
        {
          type: 'enum',
          loc: ['query', 'source'],
          msg: "Input should be 'api' or 'tag'",
          input: 'email',
          ctx: { expected: "'api' or 'tag'" },
        },
      ],
      [
        'from=yesterday',
        {
          type: 'datetime_from_date_parsing',
          loc: ['query', 'from'],
          msg: 'Input should be a valid datetime or date, input is not a valid ISO-8601 datetime',
          input: 'yesterday',
          ctx: { error: 'input is not a valid ISO-8601 datetime' },
        },
      ],
      [
        'to=2026-02-30T00:00:00Z',
        {
          type: 'datetime_from_date_parsing',
          loc: ['query', 'to'],
          msg: 'Input should be a valid datetime or date, day value is outside expected range',
          input: '2026-02-30T00:00:00Z',
          ctx: { error: 'day value is outside expected range' },
        },
      ],
      [
        'partner_id=a&partner_id=b',
        { type: 'string_type', loc: ['query', 'partner_id'], msg: 'Input should be a valid string', input: ['a', 'b'] },
      ],
      [
        'cursor=not-a-cursor',
        {
          type: 'value_error',
          loc: ['query', 'cursor'],
          msg: 'Value error, invalid cursor (pass next_cursor from the previous page unchanged)',
          input: 'not-a-cursor',
          ctx: { error: 'invalid cursor (pass next_cursor from the previous page unchanged)' },
        },
      ],
    ];
    it.each(cases)('%s', async (qs, issue) => {
      const r = await get(`/admin/conversions?${qs}`, support);
      expect(r.status).toBe(422);
      expect(r.body).toEqual({ detail: [issue] });
      const own = await get(`/api/conversions?${qs}`, a.partnerKey);
      if (!qs.startsWith('partner_id')) {
        expect(own.status).toBe(422);
        expect(own.body).toEqual({ detail: [issue] });
      }
      if (!qs.startsWith('limit') && !qs.startsWith('cursor')) {
        const csv = await get(`/admin/conversions/export.csv?${qs}`, support);
        expect(csv.status).toBe(422);
        expect(csv.body).toEqual({ detail: [issue] });
      }
    });

    it('a cursor must decode to a (time, id) pair, not just be base64', async () => {
      const forged = Buffer.from('hello|world').toString('base64url');
      expect((await get(`/admin/conversions?cursor=${forged}`, support)).status).toBe(422);
      const ok = Buffer.from('2026-05-26T12:00:00.000Z|anything').toString('base64url');
      expect((await get(`/admin/conversions?cursor=${ok}`, support)).status).toBe(200);
    });
  });
});
