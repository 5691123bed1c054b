import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makeClick, SEED_TIME_WARNING } from './api-client';
import { parseCsv } from './admin-helpers';
import { db } from './db';
import { ADMIN_KEY, onPostgres, TestApp, useTestApp } from './test-app';
import { AttemptsRecorder } from '../src/modules/attempts/attempts.recorder';
import { RetentionJob } from '../src/modules/attempts/retention';
import { MetricsService } from '../src/modules/observability/metrics.service';

const ORIGIN = 'https://shop.example.com';
const p = (i: number) => (onPostgres ? `$${i}` : '?');

async function testKeyOf(
  api: ApiClient,
  partnerId: string,
): Promise<{ key: string; id: string; body: Record<string, unknown> }> {
  const r = await api.post('/admin/keys', { role: 'partner', partner_id: partnerId, mode: 'test' }, ADMIN_KEY);
  expect(r.status).toBe(201);
  return { key: r.body.key, id: r.body.id, body: r.body };
}

async function testClick(api: ApiClient, f: Fixture, key: string, extra: Record<string, unknown> = {}) {
  const r = await api.post(
    '/api/test/clicks',
    { tag_id: f.tagId, bid_id: `bid_${randomUUID().slice(0, 8)}`, ...extra },
    key,
  );
  expect(r.status).toBe(201);
  return r.body as { click_id: string; sig: string; exp: number };
}

async function rowsOf(t: TestApp, table: string, column: string, value: string): Promise<Record<string, unknown>[]> {
  return db(t).query(`SELECT * FROM ${table} WHERE ${column} = ${p(1)}`, [value]);
}

async function metric(t: TestApp, name: string, labels: Record<string, string>): Promise<number> {
  const m = await t.app.get(MetricsService).registry.getSingleMetric(name)?.get();
  const v = m?.values.find((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l));
  return v?.value ?? 0;
}

describe('sandbox: test keys and synthetic clicks (e2e)', () => {
  // A TTL shorter than the dedup window (7 days), so the purge of test claims is seen apart from the expired-claims one.
  const { t, api, partners } = useTestApp({ partners: 2, origins: [ORIGIN], env: { TEST_DATA_TTL: '1d' } });
  let f: Fixture;
  let other: Fixture;
  let testKey: string;
  let otherTestKey: string;

  beforeAll(async () => {
    [f, other] = partners;
    testKey = (await testKeyOf(api, f.partnerId)).key;
    otherTestKey = (await testKeyOf(api, other.partnerId)).key;
  });

  describe('POST /admin/keys mode', () => {
    it("issues a test partner key with its own prefix, and the listing shows each key's mode", async () => {
      const issued = await testKeyOf(api, f.partnerId);
      expect(issued.key).toMatch(/^thr_test_[A-Za-z0-9_-]{43}$/);
      expect(issued.body).toMatchObject({ role: 'partner', mode: 'test', partner_id: f.partnerId });
      const list = await api.request('GET', `/admin/keys?partner_id=${f.partnerId}`, { key: ADMIN_KEY });
      expect(list.status).toBe(200);
      const mine = list.body.items.find((k: { id: string }) => k.id === issued.id);
      expect(mine).toMatchObject({ mode: 'test', prefix: issued.key.slice(0, 14) });
      expect(mine.prefix).toMatch(/^thr_test_/);
      const live = await api.post('/admin/keys', { role: 'partner', partner_id: f.partnerId }, ADMIN_KEY);
      expect(live.body).toMatchObject({ mode: 'live', key: expect.stringMatching(/^thr_pk_/) });
    });

    it('refuses a test key of any other role, and an unknown mode (422)', async () => {
      const ingest = await api.post('/admin/keys', { role: 'ingest', mode: 'test' }, ADMIN_KEY);
      expect(ingest.status).toBe(422);
      expect(ingest.body.detail[0]).toMatchObject({ type: 'value_error', loc: ['body', 'mode'] });
      const bad = await api.post(
        '/admin/keys',
        { role: 'partner', partner_id: f.partnerId, mode: 'staging' },
        ADMIN_KEY,
      );
      expect(bad.status).toBe(422);
      expect(bad.body.detail[0].loc).toEqual(['body', 'mode']);
    });

    it('a rotated test key stays a test key', async () => {
      const k = await testKeyOf(api, f.partnerId);
      const r = await api.post(`/admin/keys/${k.id}/rotate`, {}, ADMIN_KEY);
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({ mode: 'test', key: expect.stringMatching(/^thr_test_/) });
    });
  });

  describe('attackers', () => {
    it('a test key on admin, support and ingest routes: 403', async () => {
      for (const [method, url, body] of [
        ['GET', '/admin/conversions', undefined],
        ['GET', '/admin/keys', undefined],
        ['POST', '/admin/keys', { role: 'admin' }],
        ['POST', '/api/clicks', { tag_id: f.tagId, bid_id: 'b' }],
      ] as const) {
        const r = await api.request(method, url, { key: testKey, body });
        expect([url, r.status, r.body]).toEqual([url, 403, { detail: 'This API key may not call this endpoint' }]);
      }
    });

    it('a live key on /api/test/*: 403, nothing written', async () => {
      const testClicksBefore = (await rowsOf(t, 'clicks', 'tag_id', f.tagId)).filter((r) => r.mode === 'test').length;
      const c = await api.post('/api/test/clicks', { tag_id: f.tagId, bid_id: 'b' }, f.partnerKey);
      expect(c.status).toBe(403);
      expect(c.body).toEqual({ detail: 'Only a test key (thr_test_…) may call this endpoint' });
      const e = await api.request('GET', '/api/test-events', { key: f.partnerKey });
      expect(e.status).toBe(403);
      const after = await rowsOf(t, 'clicks', 'tag_id', f.tagId);
      expect(after.filter((r) => r.mode === 'test').length).toBe(testClicksBefore);
      // An ingest key (no partner) is refused by role.
      expect((await api.post('/api/test/clicks', { tag_id: f.tagId }, f.ingestKey)).status).toBe(403);
    });

    it("a test key on another partner's tag: the same 422 as an unknown tag, no click", async () => {
      const theirs = await api.post('/api/test/clicks', { tag_id: other.tagId, bid_id: 'b' }, testKey);
      const unknown = await api.post('/api/test/clicks', { tag_id: randomUUID(), bid_id: 'b' }, testKey);
      expect(theirs.status).toBe(422);
      expect(theirs.body.detail[0]).toMatchObject({ loc: ['body', 'tag_id'], msg: 'Value error, unknown tag' });
      expect(unknown.status).toBe(422);
      expect({ ...theirs.body.detail[0], input: null }).toEqual({ ...unknown.body.detail[0], input: null });
      expect(await rowsOf(t, 'clicks', 'tag_id', other.tagId)).toEqual(
        (await rowsOf(t, 'clicks', 'tag_id', other.tagId)).filter((r) => r.mode === 'live'),
      );
    });

    it("another partner's test key: its test click is a 404, and its test-events never show ours", async () => {
      const mine = await testClick(api, f, testKey);
      const r = await api.post('/api/conversion', conversionBody(mine.click_id, { order_id: 'x' }), otherTestKey);
      expect([r.status, r.body]).toEqual([404, { detail: 'Click not found' }]);
      await api.post('/api/conversion', conversionBody(mine.click_id, { order_id: `mine-${randomUUID()}` }), testKey);
      await t.app.get(AttemptsRecorder).flush();
      const feed = await api.request('GET', '/api/test-events', { key: otherTestKey });
      expect(feed.status).toBe(200);
      expect(feed.body.items.filter((e: { click_id: string }) => e.click_id === mine.click_id)).toEqual([
        expect.objectContaining({ type: 'refused_attempt', reason: 'click_not_found', status: 404 }),
      ]);
      const ours = await api.request('GET', '/api/test-events', { key: testKey });
      expect(
        ours.body.items
          .filter((e: { click_id: string }) => e.click_id === mine.click_id)
          .map((e: { type: string }) => e.type),
      ).toEqual(['conversion']);
    });
  });

  describe('synthetic clicks and the write path', () => {
    it('POST /api/test/clicks: 201 with the click, sig and exp; stored as a test click', async () => {
      const r = await api.post(
        '/api/test/clicks',
        { tag_id: f.tagId, bid_id: 'bid_t1', clicked_at: '2026-05-26T12:00:00Z' },
        testKey,
      );
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        click_id: expect.stringMatching(/^clk_test_/),
        tag_id: f.tagId,
        partner_id: f.partnerId,
        bid_id: 'bid_t1',
        clicked_at: '2026-05-26T12:00:00.000Z',
        landing_url: null,
        created_at: expect.any(String),
        sig: expect.stringMatching(/^k[A-Za-z0-9_-]{7}\.[A-Za-z0-9_-]{43}$/),
        exp: expect.any(Number),
      });
      const [row] = await rowsOf(t, 'clicks', 'click_id', r.body.click_id);
      expect(row.mode).toBe('test');
      const bad = await api.post('/api/test/clicks', { tag_id: f.tagId, clicked_at: 'yesterday' }, testKey);
      expect(bad.status).toBe(422);
      expect(bad.body.detail[0].loc).toEqual(['body', 'clicked_at']);
    });

    it('a live key on a test click and a test key on a live click: 404 Click not found, nothing written', async () => {
      const test = await testClick(api, f, testKey);
      const live = await makeClick(api, f);
      const a = await api.post('/api/conversion', conversionBody(test.click_id, { order_id: 'o1' }), f.partnerKey);
      const b = await api.post('/api/conversion', conversionBody(live, { order_id: 'o1' }), testKey);
      expect([a.status, a.body]).toEqual([404, { detail: 'Click not found' }]);
      expect([b.status, b.body]).toEqual([404, { detail: 'Click not found' }]);
      // validate-only and the batch say the same.
      const v = await api.post('/api/conversion?validate_only=true', conversionBody(live), testKey);
      expect([v.status, v.body]).toEqual([404, { detail: 'Click not found' }]);
      const batch = await api.post(
        '/api/conversions/batch',
        { conversions: [conversionBody(test.click_id)] },
        f.partnerKey,
      );
      expect(batch.body.results[0]).toEqual({
        index: 0,
        status: 'rejected',
        error: { status: 404, detail: 'Click not found' },
      });
      expect(await rowsOf(t, 'conversions', 'click_id', test.click_id)).toEqual([]);
      expect(await rowsOf(t, 'conversions', 'click_id', live)).toEqual([]);
      expect(await rowsOf(t, 'dedup_claims', 'click_id', live)).toEqual([]);
    });

    it('a test key on a test click: every check, stored as test data, deduplicated against test data', async () => {
      const c = await testClick(api, f, testKey);
      const order = `order-${randomUUID()}`;
      const ok = await api.post('/api/conversion', conversionBody(c.click_id, { order_id: order }), testKey);
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING });
      const dup = await api.post('/api/conversion', conversionBody(c.click_id, { order_id: order }), testKey);
      expect(dup.body).toMatchObject({
        status: 'duplicate',
        conversion_id: ok.body.conversion_id,
        matched_on: 'order_id',
      });
      const rows = await rowsOf(t, 'conversions', 'click_id', c.click_id);
      expect(rows.map((r) => [r.id, r.mode, r.source])).toEqual([[ok.body.conversion_id, 'test', 'api']]);
      // Every check: a click without a bid is 400, a bad body 422.
      const nobid = await api.post('/api/test/clicks', { tag_id: f.tagId }, testKey);
      const r400 = await api.post('/api/conversion', conversionBody(nobid.body.click_id), testKey);
      expect([r400.status, r400.body]).toEqual([400, { detail: 'Click missing bid id' }]);
      const r422 = await api.post('/api/conversion', { click_id: c.click_id }, testKey);
      expect(r422.status).toBe(422);
    });

    it('validate-only and the batch with a test key: the same checks; the batch writes test rows only', async () => {
      const c = await testClick(api, f, testKey);
      const v = await api.post(
        '/api/conversion?validate_only=true',
        conversionBody(c.click_id, { order_id: 'v' }),
        testKey,
      );
      expect(v.body).toMatchObject({ status: 'ok', validate_only: true });
      expect(await rowsOf(t, 'conversions', 'click_id', c.click_id)).toEqual([]);
      const live = await makeClick(api, f);
      const batch = await api.post(
        '/api/conversions/batch',
        {
          conversions: [
            conversionBody(c.click_id, { order_id: 'b1' }),
            conversionBody(live, { order_id: 'b2' }),
            conversionBody(c.click_id, { order_id: 'b1' }),
          ],
        },
        testKey,
      );
      expect(batch.status).toBe(200);
      expect(batch.body.counts).toEqual({ ok: 1, duplicate: 1, rejected: 1 });
      expect(batch.body.results[1].error).toEqual({ status: 404, detail: 'Click not found' });
      const rows = await rowsOf(t, 'conversions', 'click_id', c.click_id);
      expect(rows.map((r) => r.mode)).toEqual(['test']);
      expect(await rowsOf(t, 'conversions', 'click_id', live)).toEqual([]);
    });

    it('the Tag with a signed test click: the conversion is test data (source tag)', async () => {
      const c = await testClick(api, f, testKey);
      const r = await api.post(
        '/api/tag/conversion',
        conversionBody(c.click_id, { sig: c.sig, exp: c.exp, event_id: 'tag-e1' }),
        undefined,
        { origin: ORIGIN },
      );
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: 'ok' });
      const rows = await rowsOf(t, 'conversions', 'click_id', c.click_id);
      expect(rows.map((x) => [x.mode, x.source])).toEqual([['test', 'tag']]);
      // The Tag's refused attempt on a test click is a test attempt.
      const nobid = await api.post('/api/test/clicks', { tag_id: f.tagId }, testKey);
      const refused = await api.post(
        '/api/tag/conversion',
        conversionBody(nobid.body.click_id, { sig: nobid.body.sig, exp: nobid.body.exp }),
        undefined,
        { origin: ORIGIN },
      );
      expect(refused.status).toBe(400);
      await t.app.get(AttemptsRecorder).flush();
      const attempts = await rowsOf(t, 'conversion_attempts', 'click_id', nobid.body.click_id);
      expect(attempts.map((a) => [a.mode, a.source, a.reason])).toEqual([['test', 'tag', 'click_missing_bid']]);
    });
  });

  describe('test data stays out of live reads and metrics', () => {
    let testConversion: string;
    let liveConversion: string;
    const tagOf = randomUUID().slice(0, 8);

    beforeAll(async () => {
      const c = await testClick(api, f, testKey);
      const live = await makeClick(api, f);
      const a = await api.post('/api/conversion', conversionBody(c.click_id, { order_id: `t-${tagOf}` }), testKey);
      const b = await api.post('/api/conversion', conversionBody(live, { order_id: `l-${tagOf}` }), f.partnerKey);
      testConversion = a.body.conversion_id;
      liveConversion = b.body.conversion_id;
    });

    const ids = (r: { body: { items: { id: string }[] } }) => r.body.items.map((i) => i.id);

    it('admin listing: live by default, test only with ?mode=test', async () => {
      const live = await api.request('GET', `/admin/conversions?partner_id=${f.partnerId}&limit=500`, {
        key: ADMIN_KEY,
      });
      expect(ids(live)).toContain(liveConversion);
      expect(ids(live)).not.toContain(testConversion);
      const test = await api.request('GET', `/admin/conversions?partner_id=${f.partnerId}&mode=test&limit=500`, {
        key: ADMIN_KEY,
      });
      expect(ids(test)).toContain(testConversion);
      expect(ids(test)).not.toContain(liveConversion);
      expect(test.body.items.every((i: { mode: string }) => i.mode === 'test')).toBe(true);
      const bad = await api.request('GET', '/admin/conversions?mode=both', { key: ADMIN_KEY });
      expect(bad.status).toBe(422);
    });

    it('CSV export: live by default, test only with ?mode=test', async () => {
      const idsOf = async (q: string) => {
        const r = await api.request('GET', `/admin/conversions/export.csv?partner_id=${f.partnerId}${q}`, {
          key: ADMIN_KEY,
        });
        expect(r.status).toBe(200);
        return parseCsv(r.body as string)
          .slice(1)
          .map((row) => row[0]);
      };
      const live = await idsOf('');
      expect(live).toContain(liveConversion);
      expect(live).not.toContain(testConversion);
      const test = await idsOf('&mode=test');
      expect(test).toEqual(expect.arrayContaining([testConversion]));
      expect(test).not.toContain(liveConversion);
    });

    it("the partner's own listing: each key reads its own mode's data only", async () => {
      const live = await api.request('GET', '/api/conversions?limit=500', { key: f.partnerKey });
      expect(ids(live)).toContain(liveConversion);
      expect(ids(live)).not.toContain(testConversion);
      const asTest = await api.request('GET', '/api/conversions?limit=500', { key: testKey });
      expect(ids(asTest)).toContain(testConversion);
      expect(ids(asTest)).not.toContain(liveConversion);
      const liveAsksTest = await api.request('GET', '/api/conversions?mode=test', { key: f.partnerKey });
      expect([liveAsksTest.status, liveAsksTest.body]).toEqual([
        403,
        { detail: "This API key reads only its own mode's data: a live key live data, a test key test data" },
      ]);
      expect((await api.request('GET', '/api/conversions?mode=live', { key: testKey })).status).toBe(403);
    });

    it('metrics: a test conversion is counted in conversions_test_total, never in conversions_total', async () => {
      const c = await testClick(api, f, testKey);
      const before = await metric(t, 'conversions_total', { outcome: 'ok', source: 'api' });
      const testBefore = await metric(t, 'conversions_test_total', { outcome: 'ok', source: 'api' });
      const attrBefore = await metric(t, 'conversion_attribution_total', {
        verdict: 'precedes_click',
        action: 'recorded',
      });
      const r = await api.post('/api/conversion', conversionBody(c.click_id), testKey);
      expect(r.status).toBe(200);
      expect(await metric(t, 'conversions_total', { outcome: 'ok', source: 'api' })).toBe(before);
      expect(await metric(t, 'conversion_attribution_total', { verdict: 'precedes_click', action: 'recorded' })).toBe(
        attrBefore,
      );
      expect(await metric(t, 'conversions_test_total', { outcome: 'ok', source: 'api' })).toBe(testBefore + 1);
    });

    it('diagnostics summary counts live data only', async () => {
      const r = await api.request('GET', '/api/diagnostics/summary?days=1', { key: f.partnerKey });
      expect(r.status).toBe(200);
      const stored = (await db(t).query(
        `SELECT COUNT(*) AS n FROM conversions WHERE partner_id = ${p(1)} AND mode = 'live'`,
        [f.partnerId],
      )) as { n: string | number }[];
      const tests = (await db(t).query(
        `SELECT COUNT(*) AS n FROM conversions WHERE partner_id = ${p(1)} AND mode = 'test'`,
        [f.partnerId],
      )) as { n: string | number }[];
      expect(Number(tests[0].n)).toBeGreaterThan(0);
      const total = r.body.daily.reduce((s: number, d: { ok: number }) => s + d.ok, 0);
      expect(total).toBe(Number(stored[0].n));
      // Diagnostics read live data: a test key is refused (its own traffic is /api/test-events).
      const asTest = await api.request('GET', '/api/diagnostics/summary', { key: testKey });
      expect(asTest.status).toBe(403);
      const c = await testClick(api, f, testKey);
      expect((await api.request('GET', `/api/diagnostics/clicks/${c.click_id}`, { key: testKey })).status).toBe(403);
    });
  });

  describe('GET /api/test-events', () => {
    it('lists test conversions and refused test attempts with outcome and reason, newest first, bounded', async () => {
      const key = (await testKeyOf(api, f.partnerId)).key;
      const c = await testClick(api, f, key);
      const ok = await api.post('/api/conversion', conversionBody(c.click_id, { order_id: 'te-1' }), key);
      // A duplicate is kept (issue 14) but is no refused attempt: it is not in this feed.
      t.clock.fixed = new Date(Date.now() + 500);
      const dup = await api.post('/api/conversion', conversionBody(c.click_id, { order_id: 'te-1' }), key);
      expect(dup.body.status).toBe('duplicate');
      t.clock.fixed = new Date(Date.now() + 1000);
      const refused = await api.post('/api/conversion', conversionBody(`clk_nope_${randomUUID()}`), key);
      t.clock.fixed = undefined;
      expect(refused.status).toBe(404);
      await t.app.get(AttemptsRecorder).flush();
      const r = await api.request('GET', '/api/test-events?limit=500', { key });
      expect(r.status).toBe(200);
      const mine = r.body.items.filter(
        (e: { click_id?: string; type: string }) =>
          e.click_id === c.click_id || (e.type === 'refused_attempt' && e.click_id?.startsWith('clk_nope_')),
      );
      expect(mine.slice(0, 2)).toEqual([
        expect.objectContaining({
          type: 'refused_attempt',
          outcome: 'rejected',
          reason: 'click_not_found',
          status: 404,
        }),
        expect.objectContaining({
          type: 'conversion',
          outcome: 'recorded',
          conversion_id: ok.body.conversion_id,
          reason: 'precedes_click',
          status: 200,
        }),
      ]);
      const times = r.body.items.map((e: { at: string }) => e.at);
      expect([...times].sort().reverse()).toEqual(times);
      // No live row, ever.
      for (const e of r.body.items.filter((x: { conversion_id?: string }) => x.conversion_id)) {
        const [row] = await rowsOf(t, 'conversions', 'id', e.conversion_id);
        expect(row.mode).toBe('test');
      }
      const one = await api.request('GET', '/api/test-events?limit=1', { key });
      expect(one.body.items).toHaveLength(1);
      expect(one.body.truncated).toBe(true);
      expect((await api.request('GET', '/api/test-events?limit=501', { key })).status).toBe(422);
    });

    it('clamps since to the last 24 hours', async () => {
      const now = Date.now();
      const r = await api.request('GET', '/api/test-events?since=2020-01-01T00:00:00Z', { key: testKey });
      expect(r.status).toBe(200);
      const since = Date.parse(r.body.since);
      expect(Math.abs(since - (now - 24 * 3_600_000))).toBeLessThan(60_000);
      const later = new Date(now - 3_600_000).toISOString();
      const s = await api.request('GET', `/api/test-events?since=${later}`, { key: testKey });
      expect(s.body.since).toBe(later);
      expect(s.body.items.every((e: { at: string }) => e.at >= later)).toBe(true);
    });
  });

  describe('purge after TEST_DATA_TTL', () => {
    it('removes test conversions, claims, clicks and attempts older than the TTL; live rows and younger test rows stay', async () => {
      const ttl = t.config.testDataTtlMs;
      t.clock.fixed = new Date(Date.now() - ttl - 3_600_000);
      const old = await testClick(api, f, testKey);
      const oldConv = await api.post(
        '/api/conversion',
        conversionBody(old.click_id, { order_id: 'purge-old' }),
        testKey,
      );
      const oldRefused = `clk_purge_${randomUUID()}`;
      await api.post('/api/conversion', conversionBody(oldRefused), testKey);
      const liveOld = await makeClick(api, f);
      const liveConv = await api.post(
        '/api/conversion',
        conversionBody(liveOld, { order_id: 'purge-live' }),
        f.partnerKey,
      );
      await api.post('/api/conversion', conversionBody(`clk_purge_live_${randomUUID()}`), f.partnerKey);
      await t.app.get(AttemptsRecorder).flush();
      t.clock.fixed = undefined;
      const young = await testClick(api, f, testKey);
      const youngConv = await api.post(
        '/api/conversion',
        conversionBody(young.click_id, { order_id: 'purge-young' }),
        testKey,
      );
      expect([oldConv.status, liveConv.status, youngConv.status]).toEqual([200, 200, 200]);

      const removed = await t.app.get(RetentionJob).run();
      expect(removed.test.conversions).toBeGreaterThanOrEqual(1);
      expect(removed.test.clicks).toBeGreaterThanOrEqual(1);
      expect(removed.test.dedupClaims).toBeGreaterThanOrEqual(1);
      expect(removed.test.attempts).toBeGreaterThanOrEqual(1);

      expect(await rowsOf(t, 'conversions', 'id', oldConv.body.conversion_id)).toEqual([]);
      expect(await rowsOf(t, 'dedup_claims', 'click_id', old.click_id)).toEqual([]);
      expect(await rowsOf(t, 'clicks', 'click_id', old.click_id)).toEqual([]);
      expect(await rowsOf(t, 'conversion_attempts', 'click_id', oldRefused)).toEqual([]);
      // Live data of the same age, and younger test data, stay.
      expect(await rowsOf(t, 'conversions', 'id', liveConv.body.conversion_id)).toHaveLength(1);
      expect(await rowsOf(t, 'clicks', 'click_id', liveOld)).toHaveLength(1);
      expect(await rowsOf(t, 'dedup_claims', 'click_id', liveOld)).toHaveLength(1);
      expect(await rowsOf(t, 'conversions', 'id', youngConv.body.conversion_id)).toHaveLength(1);
      expect(await rowsOf(t, 'clicks', 'click_id', young.click_id)).toHaveLength(1);
      const liveAttempts = (await db(t).query(
        `SELECT COUNT(*) AS n FROM conversion_attempts WHERE click_id LIKE 'clk_purge_live_%'`,
      )) as { n: string | number }[];
      expect(Number(liveAttempts[0].n)).toBeGreaterThanOrEqual(1);
    });
  });
});
