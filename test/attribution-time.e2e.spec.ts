import { randomUUID } from 'node:crypto';
import { Fixture } from './api-client';
import { conversionRows, db } from './db';
import { ADMIN_KEY, useTestApp } from './test-app';

/*
 * Attribution-time checks (issue 12): each conversion's time against its click's clicked_at and the
 * server's clock, with the partner's window and policy (`flag` records the verdict and warns,
 * `reject` answers 422 and writes nothing).
 */
describe('attribution-time checks (e2e)', () => {
  const { t, api, partners } = useTestApp({ partners: 3 });
  const MIN = 60_000;
  const DAY = 86_400_000;
  const CLICKED_AT = new Date('2026-06-01T12:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();

  beforeEach(() => {
    // The server's clock, far enough after every conversion time below that only `future` tests see `future`.
    t.clock.fixed = new Date('2026-09-01T00:00:00.000Z');
  });
  afterAll(() => {
    t.clock.fixed = undefined;
  });

  async function click(f: Fixture, clickedAt: Date = CLICKED_AT): Promise<string> {
    const r = await api.post(
      '/api/clicks',
      { tag_id: f.tagId, click_id: `clk_${randomUUID()}`, bid_id: 'bid_1', clicked_at: clickedAt.toISOString() },
      f.ingestKey,
    );
    expect(r.status).toBe(201);
    return r.body.click_id;
  }

  const convert = (f: Fixture, clickId: string, conversionTime: string, extra: Record<string, unknown> = {}) =>
    api.post(
      '/api/conversion',
      {
        click_id: clickId,
        conversion_time: conversionTime,
        conversion_value: 10,
        currency: 'USD',
        order_id: `o_${randomUUID()}`,
        ...extra,
      },
      f.partnerKey,
    );

  const setAttribution = (f: Fixture, body: unknown, key = ADMIN_KEY) =>
    api.request('PUT', `/admin/partners/${f.partnerId}/attribution`, { body, key });

  /** Posts one conversion and answers its response and its stored verdict. */
  async function verdictOf(f: Fixture, conversionTime: string, clickedAt?: Date) {
    const clickId = await click(f, clickedAt);
    const r = await convert(f, clickId, conversionTime);
    const rows = await conversionRows(t, clickId);
    return { r, rows, clickId };
  }

  describe('policy flag (the default)', () => {
    const f = () => partners[0];

    it.each([
      ['exactly 5 minutes before the click', CLICKED_AT.getTime() - 5 * MIN, 'ok'],
      ['1 ms more than 5 minutes before the click', CLICKED_AT.getTime() - 5 * MIN - 1, 'precedes_click'],
      ['exactly the 30-day window after the click', CLICKED_AT.getTime() + 30 * DAY, 'ok'],
      ['1 ms past the 30-day window', CLICKED_AT.getTime() + 30 * DAY + 1, 'outside_window'],
    ])('%s: %s', async (_name, at, verdict) => {
      const { r, rows } = await verdictOf(f(), iso(at));
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('ok');
      expect(rows).toHaveLength(1);
      expect(rows[0].attribution_status).toBe(verdict);
      if (verdict === 'ok') expect(r.body.warnings).toBeUndefined();
      else
        expect(r.body.warnings).toEqual([
          { code: verdict, msg: expect.any(String), clicked_at: CLICKED_AT.toISOString() },
        ]);
    });

    it('future: exactly 10 minutes ahead of the clock is ok, 1 ms more is flagged', async () => {
      const now = t.clock.now().getTime();
      const clickedAt = new Date(now - 60 * MIN);
      const edge = await verdictOf(f(), iso(now + 10 * MIN), clickedAt);
      expect(edge.r.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
      expect(edge.rows[0].attribution_status).toBe('ok');
      const past = await verdictOf(f(), iso(now + 10 * MIN + 1), clickedAt);
      expect(past.r.status).toBe(200);
      expect(past.r.body.warnings).toEqual([
        { code: 'future', msg: expect.any(String), clicked_at: clickedAt.toISOString() },
      ]);
      expect(past.rows[0].attribution_status).toBe('future');
    });

    it('a duplicate of a flagged conversion carries the same warning and writes nothing', async () => {
      const clickId = await click(f());
      const body = { order_id: `o_${randomUUID()}` };
      const at = iso(CLICKED_AT.getTime() - DAY);
      const first = await convert(f(), clickId, at, body);
      const again = await convert(f(), clickId, at, body);
      expect(again.body).toMatchObject({ status: 'duplicate', conversion_id: first.body.conversion_id });
      expect(again.body.warnings).toEqual([expect.objectContaining({ code: 'precedes_click' })]);
      expect(await conversionRows(t, clickId)).toHaveLength(1);
    });
  });

  describe('policy reject', () => {
    const f = () => partners[1];
    beforeAll(async () => {
      const r = await setAttribution(partners[1], { window_days: 7, policy: 'reject' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        partner_id: partners[1].partnerId,
        window_days: 7,
        effective_window_days: 7,
        policy: 'reject',
      });
    });

    it('is readable in GET /admin/partners/{id} and audited', async () => {
      const p = await api.request('GET', `/admin/partners/${f().partnerId}`, { key: ADMIN_KEY });
      expect(p.body.attribution).toEqual({ window_days: 7, effective_window_days: 7, policy: 'reject' });
      const other = await api.request('GET', `/admin/partners/${partners[0].partnerId}`, { key: ADMIN_KEY });
      expect(other.body.attribution).toEqual({ window_days: null, effective_window_days: 30, policy: 'flag' });
      const audit = await api.request('GET', `/admin/audit?target_id=${f().partnerId}`, { key: ADMIN_KEY });
      const entry = (audit.body.items as { action: string; after: unknown }[]).find(
        (e) => e.action === 'partner.attribution',
      );
      expect(entry?.after).toEqual({ attribution_window_days: 7, attribution_policy: 'reject' });
    });

    it('accepts exactly the window and exactly 5 minutes before the click', async () => {
      for (const at of [CLICKED_AT.getTime() + 7 * DAY, CLICKED_AT.getTime() - 5 * MIN]) {
        const { r, rows } = await verdictOf(f(), iso(at));
        expect(r.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
        expect(rows.map((x) => x.attribution_status)).toEqual(['ok']);
      }
    });

    it.each([
      ['outside_window', () => CLICKED_AT.getTime() + 7 * DAY + 1, CLICKED_AT],
      ['precedes_click', () => CLICKED_AT.getTime() - 5 * MIN - 1, CLICKED_AT],
      ['future', () => Date.parse('2026-09-01T00:10:00.001Z'), new Date('2026-08-31T00:00:00.000Z')],
    ])('%s: 422 at body.conversion_time, nothing written, not even a dedup claim', async (rule, at, clickedAt) => {
      const clickId = await click(f(), clickedAt);
      const orderId = `o_${randomUUID()}`;
      const r = await convert(f(), clickId, iso(at()), { order_id: orderId });
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([
        {
          type: 'value_error',
          loc: ['body', 'conversion_time'],
          msg: expect.stringContaining('Value error, '),
          input: iso(at()),
          ctx: { error: expect.any(String), rule, clicked_at: clickedAt.toISOString(), window_days: 7 },
        },
      ]);
      expect(await conversionRows(t, clickId)).toEqual([]);
      const p = db(t).options.type === 'postgres' ? '$1' : '?';
      expect(await db(t).query(`SELECT * FROM dedup_claims WHERE click_id = ${p}`, [clickId])).toEqual([]);
    });

    it('the click and bid checks come first: an unknown click is 404 whatever the time', async () => {
      const r = await convert(f(), `clk_${randomUUID()}`, '2030-01-01T00:00:00Z');
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: 'Click not found' });
    });

    it('per item on the batch route', async () => {
      const clickId = await click(f());
      const r = await api.post(
        '/api/conversions/batch',
        {
          conversions: [
            {
              click_id: clickId,
              conversion_time: iso(CLICKED_AT.getTime() + MIN),
              conversion_value: 1,
              currency: 'USD',
            },
            {
              click_id: clickId,
              conversion_time: iso(CLICKED_AT.getTime() - DAY),
              conversion_value: 2,
              currency: 'USD',
            },
          ],
        },
        f().partnerKey,
      );
      expect(r.status).toBe(200);
      expect(r.body.results[0]).toEqual({ index: 0, status: 'ok', conversion_id: expect.any(String) });
      expect(r.body.results[1]).toMatchObject({
        index: 1,
        status: 'rejected',
        error: { status: 422, detail: [{ type: 'value_error', loc: ['body', 'conversions', 1, 'conversion_time'] }] },
      });
      expect(r.body.results[1].error.detail[0].ctx.rule).toBe('precedes_click');
      expect((await conversionRows(t, clickId)).map((x) => x.conversion_value)).toHaveLength(1);
    });
  });

  describe('batch under flag', () => {
    it('answers each item its own warnings', async () => {
      const f = partners[0];
      const clickId = await click(f);
      const r = await api.post(
        '/api/conversions/batch',
        {
          conversions: [
            {
              click_id: clickId,
              conversion_time: iso(CLICKED_AT.getTime() + MIN),
              conversion_value: 1,
              currency: 'USD',
            },
            {
              click_id: clickId,
              conversion_time: iso(CLICKED_AT.getTime() + 31 * DAY),
              conversion_value: 2,
              currency: 'USD',
            },
          ],
        },
        f.partnerKey,
      );
      expect(r.body.results[0]).toEqual({ index: 0, status: 'ok', conversion_id: expect.any(String) });
      expect(r.body.results[1]).toEqual({
        index: 1,
        status: 'ok',
        conversion_id: expect.any(String),
        warnings: [{ code: 'outside_window', msg: expect.any(String), clicked_at: CLICKED_AT.toISOString() }],
      });
      const rows = await conversionRows(t, clickId);
      expect(rows.map((x) => x.attribution_status).sort()).toEqual(['ok', 'outside_window']);
    });
  });

  describe('PUT /admin/partners/{id}/attribution', () => {
    it.each([
      [{ window_days: 0, policy: 'flag' }, 'window_days', 'greater_than_equal'],
      [{ window_days: 366, policy: 'flag' }, 'window_days', 'less_than_equal'],
      [{ window_days: 1.5, policy: 'flag' }, 'window_days', 'int_type'],
      [{ window_days: 30, policy: 'drop' }, 'policy', 'enum'],
      [{ policy: 'flag' }, 'window_days', 'missing'],
    ])('refuses %j (422 at %s)', async (body, field, type) => {
      const r = await setAttribution(partners[2], body);
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([expect.objectContaining({ type, loc: ['body', field] })]);
    });

    it('404 for an unknown partner, 403 for a support key', async () => {
      const r = await api.request('PUT', `/admin/partners/${randomUUID()}/attribution`, {
        body: { window_days: 3, policy: 'flag' },
        key: ADMIN_KEY,
      });
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: 'Partner not found' });
      const support = await api.post('/admin/keys', { role: 'support' }, ADMIN_KEY);
      const s = await setAttribution(partners[2], { window_days: 3, policy: 'flag' }, support.body.key);
      expect(s.status).toBe(403);
    });
  });

  describe('listings and the CSV export filter by attribution_status and show it', () => {
    it('admin listing, partner self-service and CSV', async () => {
      const f = partners[2];
      const flagged = await verdictOf(f, iso(CLICKED_AT.getTime() - DAY));
      const fine = await verdictOf(f, iso(CLICKED_AT.getTime() + MIN));
      const ids = (b: { items: { id: string; attribution_status: string }[] }) => b.items.map((x) => x.id);
      const admin = await api.request(
        'GET',
        `/admin/conversions?partner_id=${f.partnerId}&attribution_status=precedes_click`,
        {
          key: ADMIN_KEY,
        },
      );
      expect(admin.status).toBe(200);
      expect(ids(admin.body)).toEqual([flagged.r.body.conversion_id]);
      expect(admin.body.items[0].attribution_status).toBe('precedes_click');
      const own = await api.request('GET', '/api/conversions?attribution_status=ok', { key: f.partnerKey });
      expect(ids(own.body)).toEqual([fine.r.body.conversion_id]);
      expect(own.body.items[0].attribution_status).toBe('ok');
      const csv = await api.request(
        'GET',
        `/admin/conversions/export.csv?partner_id=${f.partnerId}&attribution_status=precedes_click`,
        { key: ADMIN_KEY },
      );
      expect(csv.status).toBe(200);
      const lines = (csv.body as string).trim().split(/\r?\n/);
      expect(lines).toHaveLength(2);
      expect(lines[0].split(',')).toContain('attribution_status');
      expect(lines[1]).toContain(flagged.r.body.conversion_id);
      expect(lines[1].split(',').at(lines[0].split(',').indexOf('attribution_status'))).toBe('precedes_click');
      const bad = await api.request('GET', '/api/conversions?attribution_status=late', { key: f.partnerKey });
      expect(bad.status).toBe(422);
      expect(bad.body.detail).toEqual([
        expect.objectContaining({ type: 'enum', loc: ['query', 'attribution_status'] }),
      ]);
    });
  });

  it('metrics count each verdict', async () => {
    const m = await api.request('GET', '/metrics', { key: ADMIN_KEY });
    expect(m.body).toMatch(/conversion_attribution_total\{verdict="precedes_click",action="recorded"\} [1-9]/);
    expect(m.body).toMatch(/conversion_attribution_total\{verdict="outside_window",action="rejected"\} [1-9]/);
    expect(m.body).toMatch(/conversion_attribution_total\{verdict="ok",action="recorded"\} [1-9]/);
  });
});
