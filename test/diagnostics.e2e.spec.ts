import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makeClick, makePartner } from './api-client';
import { ADMIN_KEY, createTestApp, TestApp } from './test-app';
import { AttemptsRecorder } from '../src/modules/attempts/attempts.recorder';

describe('diagnostics (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let a: Fixture;
  let b: Fixture;

  const flush = () => t.app.get(AttemptsRecorder).flush();
  const explain = async (query: string) => {
    await flush();
    return api.request('GET', `/admin/explain?${query}`, { key: ADMIN_KEY });
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const check = (doc: any, name: string) => doc.checks.find((c: { check: string }) => c.check === name);

  beforeAll(async () => {
    t = await createTestApp({ ATTEMPTS_FLUSH_INTERVAL: '1h' });
    api = new ApiClient(t.app);
    a = await makePartner(api);
    b = await makePartner(api);
  });
  afterAll(() => t.close());
  afterEach(() => {
    t.clock.offsetMs = 0;
  });

  describe('GET /admin/explain', () => {
    it('is a 422 when neither form is given (or half of the order form)', async () => {
      for (const q of ['', 'order_id=o1', 'partner_id=p1']) {
        const r = await explain(q);
        expect(r.status).toBe(422);
        expect(r.body.detail).toEqual([
          expect.objectContaining({
            type: 'missing',
            loc: ['query', q === '' ? 'click_id' : q.startsWith('order') ? 'partner_id' : 'order_id'],
          }),
        ]);
      }
    });

    it('needs a support key: a partner key is a 403', async () => {
      const r = await api.request('GET', '/admin/explain?click_id=x', { key: a.partnerKey });
      expect(r.status).toBe(403);
    });

    it('tells the whole story of a click: conversion, dedup claim, duplicate, refused attempt', async () => {
      const clickId = await makeClick(api, a, { bid_id: 'bid_7' });
      const ok = await api.post('/api/conversion', conversionBody(clickId, { order_id: 'ord-1' }), a.partnerKey);
      expect(ok.body.status).toBe('ok');
      const dup = await api.post('/api/conversion', conversionBody(clickId, { order_id: 'ord-1' }), a.partnerKey);
      expect(dup.body.status).toBe('duplicate');
      const bad = await api.post('/api/conversion', conversionBody(clickId, { currency: 'usd!' }), a.partnerKey);
      expect(bad.status).toBe(422);
      const r = await explain(`click_id=${encodeURIComponent(clickId)}`);
      expect(r.status).toBe(200);
      expect(r.body.subject).toEqual({ click_id: clickId });
      expect(r.body.click).toMatchObject({
        found: true,
        click_id: clickId,
        tag_id: a.tagId,
        partner_id: a.partnerId,
        bid_id: 'bid_7',
        signature_valid_now: true,
      });
      expect(r.body.conversions).toEqual([
        expect.objectContaining({
          id: ok.body.conversion_id,
          source: 'api',
          conversion_value: '99.99',
          order_id: 'ord-1',
          dedup_key: 'ord-1',
          dedup_layer: 'order_id',
        }),
      ]);
      expect(r.body.dedup_claims).toEqual([
        expect.objectContaining({
          dedup_key: 'ord-1',
          layer: 'order_id',
          holder_conversion_id: ok.body.conversion_id,
          active: true,
        }),
      ]);
      const claim = r.body.dedup_claims[0];
      expect(Date.parse(claim.window_ends_at) - Date.parse(claim.first_seen_at)).toBe(7 * 86_400_000);
      expect(r.body.refused_attempts).toEqual([
        expect.objectContaining({
          status: 422,
          reason: 'validation',
          error_loc: 'body.currency',
          partner_id: a.partnerId,
        }),
      ]);
      expect(check(r.body, 'click_registered').verdict).toBe('ok');
      expect(check(r.body, 'bid_id').verdict).toBe('ok');
      expect(check(r.body, 'conversions').verdict).toBe('ok');
      expect(check(r.body, 'dedup').message).toContain('`ord-1`');
      expect(check(r.body, 'refused_attempts')).toMatchObject({ verdict: 'warning' });
      expect(check(r.body, 'refused_attempts').message).toContain('Invalid request body');
      // The duplicate is an accepted retry, listed apart, never among the refusals.
      expect(r.body.refused_attempts.map((x: { reason: string }) => x.reason)).not.toContain('duplicate');
      expect(r.body.duplicates).toEqual([
        expect.objectContaining({
          source: 'api',
          matched_on: 'order_id',
          conversion_id: ok.body.conversion_id,
          order_id: 'ord-1',
          partner_id: a.partnerId,
          request_id: dup.headers['x-request-id'],
        }),
      ]);
      expect(r.body.duplicates[0].message).toBe(
        `A retry of conversion \`${ok.body.conversion_id}\` (same order_id), answered \`duplicate\` on ${r.body.duplicates[0].at}: accepted, nothing new was stored.`,
      );
      expect(r.body.summary).not.toContain('duplicate');
    });

    it('says so when the id sent has a trailing space and the trimmed click exists', async () => {
      const clickId = await makeClick(api, a);
      const r = await explain(`click_id=${encodeURIComponent(clickId + ' ')}`);
      expect(r.status).toBe(200);
      expect(r.body.click).toMatchObject({ found: false, click_id: clickId + ' ', signature_valid_now: false });
      expect(check(r.body, 'click_registered')).toEqual({
        check: 'click_registered',
        verdict: 'problem',
        message: `No click with this id was ever registered; the id sent was \`${clickId} \` with a trailing space, and a click \`${clickId}\` exists.`,
      });
      expect(r.body.summary).toContain('trailing space');
      expect(check(r.body, 'conversions')).toMatchObject({ verdict: 'problem' });
    });

    it('says so for leading whitespace, a letter-case difference, and an id cut short', async () => {
      const upper = `CLK_UPPER_${randomUUID().toUpperCase()}`;
      await makeClick(api, a, { click_id: upper });
      const lead = await explain(`click_id=${encodeURIComponent('\t' + upper)}`);
      expect(check(lead.body, 'click_registered').message).toContain('with leading whitespace, and a click');
      const lower = await explain(`click_id=${encodeURIComponent(upper.toLowerCase())}`);
      expect(check(lower.body, 'click_registered').message).toBe(
        `No click with this id was ever registered; a click \`${upper}\` exists: the id differs only in letter case (ids are case-sensitive).`,
      );
      const cut = await explain(`click_id=${encodeURIComponent(upper.slice(0, -6))}`);
      expect(check(cut.body, 'click_registered').message).toContain(`cut short: \`${upper}\``);
      // A NUL in any query parameter is refused before any route sees it (issue 10: stored-text check).
      const nul = await explain(`click_id=clk_a%00b`);
      expect(nul.status).toBe(422);
      expect(nul.body.detail[0]).toMatchObject({ type: 'string_unicode', loc: ['query', 'click_id'] });
      const none = await explain(`click_id=clk_never_${randomUUID()}`);
      expect(check(none.body, 'click_registered').message).toBe(
        'No click with this id was ever registered. Check that the id is the one the Tag captured on landing (thrad_click_id).',
      );
    });

    it('names a missing bid id, an expired Tag signature, and attempts by a partner that does not own the click', async () => {
      const clickId = await makeClick(api, a, { bid_id: null });
      expect((await api.post('/api/conversion', conversionBody(clickId), a.partnerKey)).status).toBe(400);
      expect((await api.post('/api/conversion', conversionBody(clickId), b.partnerKey)).status).toBe(404);
      t.clock.offsetMs = 31 * 86_400_000;
      const r = await explain(`click_id=${encodeURIComponent(clickId)}`);
      expect(check(r.body, 'bid_id')).toMatchObject({ verdict: 'problem' });
      expect(check(r.body, 'bid_id').message).toContain('Click missing bid id');
      expect(check(r.body, 'tag_signature')).toMatchObject({ verdict: 'warning' });
      expect(r.body.click.signature_valid_now).toBe(false);
      expect(check(r.body, 'click_owner').message).toContain(`partner \`${b.partnerId}\``);
      expect(r.body.refused_attempts.map((x: { reason: string }) => x.reason)).toEqual([
        'click_missing_bid',
        'click_not_found',
      ]);
    });

    it('explains an order of a partner, and a missing order sent with a trailing space', async () => {
      const clickId = await makeClick(api, a);
      const order = `ord-${randomUUID()}`;
      const ok = await api.post('/api/conversion', conversionBody(clickId, { order_id: order }), a.partnerKey);
      expect(ok.status).toBe(200);
      const r = await explain(`order_id=${order}&partner_id=${a.partnerId}`);
      expect(r.status).toBe(200);
      expect(r.body.subject).toEqual({ order_id: order, partner_id: a.partnerId });
      expect(check(r.body, 'order_stored').verdict).toBe('ok');
      expect(r.body.click).toMatchObject({ found: true, click_id: clickId });
      expect(r.body.conversions.map((c: { id: string }) => c.id)).toEqual([ok.body.conversion_id]);
      const miss = await explain(`order_id=${encodeURIComponent(order + ' ')}&partner_id=${a.partnerId}`);
      expect(check(miss.body, 'order_stored')).toEqual({
        check: 'order_stored',
        verdict: 'problem',
        message: `No conversion with order id \`${order} \` was ever stored for this partner. The order id sent was \`${order} \` with a trailing space; a conversion with order id \`${order}\` exists.`,
      });
      expect(miss.body.click).toBeNull();
    });
  });

  describe('GET /api/diagnostics/clicks/{click_id}', () => {
    it("shows a partner its own click, without other partners' attempts", async () => {
      const clickId = await makeClick(api, a);
      expect((await api.post('/api/conversion', conversionBody(clickId), b.partnerKey)).status).toBe(404);
      expect((await api.post('/api/conversion', conversionBody(clickId, { currency: 'x' }), a.partnerKey)).status).toBe(
        422,
      );
      await flush();
      const r = await api.request('GET', `/api/diagnostics/clicks/${encodeURIComponent(clickId)}`, {
        key: a.partnerKey,
      });
      expect(r.status).toBe(200);
      expect(r.body.click).toMatchObject({ found: true, partner_id: a.partnerId });
      expect(r.body.refused_attempts).toEqual([expect.objectContaining({ partner_id: a.partnerId, status: 422 })]);
      expect(check(r.body, 'click_owner')).toBeUndefined();
    });

    it("answers another partner's click exactly as an unknown one: 404 Click not found", async () => {
      const clickId = await makeClick(api, a);
      const other = await api.request('GET', `/api/diagnostics/clicks/${encodeURIComponent(clickId)}`, {
        key: b.partnerKey,
      });
      const unknown = await api.request('GET', `/api/diagnostics/clicks/clk_nobody_${randomUUID()}`, {
        key: b.partnerKey,
      });
      expect(other.status).toBe(404);
      expect(other.body).toEqual({ detail: 'Click not found' });
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(other.body);
      // A NUL in the path is refused by the global path check (422) or unknown (404): never a 500.
      const nul = await api.request('GET', '/api/diagnostics/clicks/clk_a%00b', { key: b.partnerKey });
      expect([404, 422]).toContain(nul.status);
      const support = await api.request('GET', `/api/diagnostics/clicks/${encodeURIComponent(clickId)}`, {
        key: ADMIN_KEY,
      });
      expect(support.status).toBe(403);
    });
  });

  describe('summaries', () => {
    it("counts each day's stored conversions by attribution verdict", async () => {
      const f = await makePartner(api);
      const now = new Date().toISOString();
      for (const conversion_time of [now, now, undefined]) {
        const clickId = await makeClick(api, f);
        const body = conversionBody(clickId, conversion_time ? { conversion_time } : {});
        expect((await api.post('/api/conversion', body, f.partnerKey)).status).toBe(200);
      }
      const r = await api.request('GET', '/api/diagnostics/summary?days=1', { key: f.partnerKey });
      expect(r.status).toBe(200);
      expect(r.body.daily).toEqual([
        expect.objectContaining({ ok: 3, attribution: { ok: 2, precedes_click: 1 }, refused: 0 }),
      ]);
      const admin = await api.request('GET', `/admin/partners/${f.partnerId}/diagnostics?days=1`, { key: ADMIN_KEY });
      expect(admin.body.daily).toEqual(r.body.daily);
    });

    it('counts stored and refused per UTC day, with the success rate and an alert on the dominant reason', async () => {
      const f = await makePartner(api);
      const clickId = await makeClick(api, f);
      expect((await api.post('/api/conversion', conversionBody(clickId), f.partnerKey)).status).toBe(200);
      for (let i = 0; i < 4; i++) {
        const r = await api.post('/api/conversion', conversionBody(`clk_typo_${i}`), f.partnerKey);
        expect(r.status).toBe(404);
      }
      await flush();
      const r = await api.request('GET', '/api/diagnostics/summary', { key: f.partnerKey });
      expect(r.status).toBe(200);
      expect(r.body.partner_id).toBe(f.partnerId);
      expect(r.body.days).toBe(14);
      expect(r.body.daily).toHaveLength(14);
      const today = new Date().toISOString().slice(0, 10);
      expect(r.body.daily[13]).toEqual({
        date: today,
        ok: 1,
        duplicate: 0,
        refused: 4,
        refused_by_reason: { click_not_found: 4 },
        // conversionBody's seed time precedes a click registered today: recorded, flagged.
        attribution: { precedes_click: 1 },
        success_rate: 0.2,
      });
      expect(r.body.daily[0]).toMatchObject({ ok: 0, refused: 0, success_rate: null });
      expect(r.body.alerts).toEqual([
        {
          reason: 'click_not_found',
          share: 0.8,
          count: 4,
          message:
            '80% of your conversions in the last 24 h were `Click not found`: send the click id the Tag captured on landing (thrad_click_id), exactly as received, from your own tag',
          advice: expect.any(String),
        },
      ]);
      const admin = await api.request('GET', `/admin/partners/${f.partnerId}/diagnostics?days=2`, { key: ADMIN_KEY });
      expect(admin.status).toBe(200);
      expect(admin.body.daily).toHaveLength(2);
      expect(admin.body.daily[1]).toEqual(r.body.daily[13]);
      expect(admin.body.alerts).toEqual(r.body.alerts);
    });

    it('counts duplicates of the single route, batch items and the Tag on their day; they never lower the success rate', async () => {
      const f = await makePartner(api, undefined, ['https://shop.example.com']);
      const clickId = await makeClick(api, f);
      const body = conversionBody(clickId, { order_id: 'dup-1' });
      expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('ok');
      expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('duplicate');
      // A validate-only duplicate is a dry run: not counted.
      const dry = await api.post('/api/conversion?validate_only=true', body, f.partnerKey);
      expect(dry.body).toMatchObject({ status: 'duplicate', validate_only: true });
      const batch = await api.post(
        '/api/conversions/batch',
        {
          conversions: [
            body,
            conversionBody(clickId, { order_id: 'dup-2' }),
            conversionBody(clickId, { order_id: 'dup-2' }),
          ],
        },
        f.partnerKey,
      );
      expect(batch.body.counts).toEqual({ ok: 1, duplicate: 2, rejected: 0 });
      const c = await api.post('/api/clicks', { tag_id: f.tagId, bid_id: 'bid_tag' }, f.ingestKey);
      const tagBody = conversionBody(c.body.click_id, { sig: c.body.sig, exp: c.body.exp, event_id: 'tag-e1' });
      const headers = { origin: 'https://shop.example.com' };
      expect((await api.post('/api/tag/conversion', tagBody, undefined, headers)).body.status).toBe('ok');
      const tagDup = await api.post('/api/tag/conversion', tagBody, undefined, headers);
      expect(tagDup.body.status).toBe('duplicate');
      expect((await api.post('/api/conversion', conversionBody('clk_typo_dup'), f.partnerKey)).status).toBe(404);
      await flush();
      const r = await api.request('GET', '/api/diagnostics/summary?days=2', { key: f.partnerKey });
      expect(r.status).toBe(200);
      // ok: the first single, the batch's dup-2, the Tag's first; duplicate: single 1 + batch 2 + Tag 1.
      expect(r.body.daily[1]).toEqual({
        date: new Date().toISOString().slice(0, 10),
        ok: 3,
        duplicate: 4,
        refused: 1,
        refused_by_reason: { click_not_found: 1 },
        attribution: { precedes_click: 3 },
        success_rate: 0.875,
      });
      expect(r.body.alerts.map((x: { reason: string }) => x.reason)).not.toContain('duplicate');
      const admin = await api.request('GET', `/admin/partners/${f.partnerId}/diagnostics?days=2`, { key: ADMIN_KEY });
      expect(admin.body.daily[1]).toEqual(r.body.daily[1]);
      const tagExplain = await explain(`click_id=${encodeURIComponent(c.body.click_id)}`);
      expect(tagExplain.body.refused_attempts).toEqual([]);
      expect(tagExplain.body.duplicates).toEqual([
        expect.objectContaining({
          source: 'tag',
          matched_on: 'event_id',
          key_id: null,
          partner_id: f.partnerId,
          request_id: tagDup.headers['x-request-id'],
        }),
      ]);
      const batchExplain = await explain(`click_id=${encodeURIComponent(clickId)}`);
      expect(batchExplain.body.duplicates.map((d: { source: string }) => d.source).sort()).toEqual([
        'api',
        'batch',
        'batch',
      ]);
    });

    it("keeps a test key's duplicate out of the live summary", async () => {
      const f = await makePartner(api);
      const k = await api.post('/admin/keys', { role: 'partner', partner_id: f.partnerId, mode: 'test' }, ADMIN_KEY);
      expect(k.status).toBe(201);
      const c = await api.post('/api/test/clicks', { tag_id: f.tagId, bid_id: 'bid_t' }, k.body.key);
      expect(c.status).toBe(201);
      const body = conversionBody(c.body.click_id, { order_id: 'test-dup' });
      expect((await api.post('/api/conversion', body, k.body.key)).body.status).toBe('ok');
      expect((await api.post('/api/conversion', body, k.body.key)).body.status).toBe('duplicate');
      await flush();
      const r = await api.request('GET', '/api/diagnostics/summary?days=1', { key: f.partnerKey });
      expect(r.body.daily[0]).toMatchObject({ ok: 0, duplicate: 0, refused: 0, success_rate: null });
      // It is kept (as test data), and support sees it in the explain document.
      const doc = await explain(`click_id=${encodeURIComponent(c.body.click_id)}`);
      expect(doc.body.duplicates).toHaveLength(1);
    });

    it('refuses days outside 1..90 (422) and an unknown partner (404)', async () => {
      for (const days of ['0', '91', 'x']) {
        const r = await api.request('GET', `/api/diagnostics/summary?days=${days}`, { key: a.partnerKey });
        expect(r.status).toBe(422);
        expect(r.body.detail[0].loc).toEqual(['query', 'days']);
      }
      const r = await api.request('GET', `/admin/partners/${randomUUID()}/diagnostics`, { key: ADMIN_KEY });
      expect(r.status).toBe(404);
      expect(r.body).toEqual({ detail: 'Partner not found' });
      const nul = await api.request('GET', `/admin/partners/p%00/diagnostics`, { key: ADMIN_KEY });
      expect([404, 422]).toContain(nul.status);
      const order = await explain(`order_id=o%00&partner_id=${a.partnerId}`);
      expect(order.status).toBe(422);
      expect(order.body.detail[0]).toMatchObject({ type: 'string_unicode', loc: ['query', 'order_id'] });
    });
  });
});
