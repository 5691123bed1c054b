import { ADMIN_KEY, useTestApp } from './test-app';

describe('minimum admin, clicks, health and docs (e2e)', () => {
  const { api, partner: f } = useTestApp();

  describe('admin', () => {
    it('creates a partner, a tag and keys with the documented shapes', async () => {
      const p = await api.post('/admin/partners', { name: 'Acme' }, ADMIN_KEY);
      expect(p.status).toBe(201);
      expect(p.body).toEqual({ id: expect.any(String), name: 'Acme', created_at: expect.stringMatching(/Z$/) });
      const tag = await api.post(
        `/admin/partners/${p.body.id}/tags`,
        { name: 'site', allowed_origins: ['https://Shop.Acme.com/', 'http://localhost:8080'] },
        ADMIN_KEY,
      );
      expect(tag.status).toBe(201);
      expect(tag.body).toEqual({
        id: expect.any(String),
        partner_id: p.body.id,
        name: 'site',
        allowed_origins: ['https://shop.acme.com', 'http://localhost:8080'],
        created_at: expect.any(String),
      });
      const k = await api.post('/admin/keys', { role: 'partner', partner_id: p.body.id, name: 'backend' }, ADMIN_KEY);
      expect(k.status).toBe(201);
      expect(k.body).toEqual({
        id: expect.any(String),
        role: 'partner',
        mode: 'live',
        partner_id: p.body.id,
        name: 'backend',
        key: expect.stringMatching(/^thr_pk_[A-Za-z0-9_-]{43}$/),
        created_at: expect.any(String),
      });
      const s = await api.post('/admin/keys', { role: 'support' }, ADMIN_KEY);
      expect(s.body).toMatchObject({
        role: 'support',
        partner_id: null,
        name: null,
        key: expect.stringMatching(/^thr_sk_/),
      });
    });

    it('partner_id is required for, and only for, partner keys', async () => {
      const a = await api.post('/admin/keys', { role: 'partner' }, ADMIN_KEY);
      expect(a.status).toBe(422);
      expect(a.body.detail[0]).toMatchObject({ type: 'missing', loc: ['body', 'partner_id'] });
      const b = await api.post('/admin/keys', { role: 'ingest', partner_id: f.partnerId }, ADMIN_KEY);
      expect(b.status).toBe(422);
      expect(b.body.detail[0]).toMatchObject({ loc: ['body', 'partner_id'] });
      const c = await api.post('/admin/keys', { role: 'root' }, ADMIN_KEY);
      expect(c.status).toBe(422);
      expect(c.body.detail[0]).toMatchObject({
        type: 'enum',
        loc: ['body', 'role'],
        msg: "Input should be 'partner', 'ingest', 'support' or 'admin'",
      });
      const d = await api.post(
        '/admin/keys',
        { role: 'partner', partner_id: '00000000-0000-0000-0000-000000000000' },
        ADMIN_KEY,
      );
      expect(d.status).toBe(404);
      expect(d.body).toEqual({ detail: 'Partner not found' });
    });

    it('rejects bad origins and unknown partners for tags', async () => {
      const bad = await api.post(
        `/admin/partners/${f.partnerId}/tags`,
        { name: 'x', allowed_origins: ['javascript:alert(1)'] },
        ADMIN_KEY,
      );
      expect(bad.status).toBe(422);
      expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 'allowed_origins', 0] });
      const none = await api.post('/admin/partners/nope/tags', { name: 'x' }, ADMIN_KEY);
      expect(none.status).toBe(404);
    });

    it('only admin keys reach /admin; revoking twice is fine; unknown key ids are 404', async () => {
      for (const key of [f.partnerKey, f.ingestKey]) {
        const r = await api.post('/admin/partners', { name: 'x' }, key);
        expect(r.status).toBe(403);
      }
      const k = await api.post('/admin/keys', { role: 'ingest' }, ADMIN_KEY);
      expect((await api.request('DELETE', `/admin/keys/${k.body.id}`, { key: ADMIN_KEY })).status).toBe(204);
      expect((await api.request('DELETE', `/admin/keys/${k.body.id}`, { key: ADMIN_KEY })).status).toBe(204);
      const r = await api.post('/api/clicks', { tag_id: f.tagId }, k.body.key);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ detail: 'Invalid API key' });
      expect((await api.request('DELETE', '/admin/keys/nope', { key: ADMIN_KEY })).status).toBe(404);
    });
  });

  describe('clicks', () => {
    it('registers a click, generating clk_… ids, defaulting clicked_at to now', async () => {
      const r = await api.post(
        '/api/clicks',
        { tag_id: f.tagId, bid_id: 'b1', landing_url: 'https://shop.example.com/p?x=1' },
        f.ingestKey,
      );
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        click_id: expect.stringMatching(/^clk_[A-Za-z0-9_-]{22}$/),
        tag_id: f.tagId,
        partner_id: f.partnerId,
        bid_id: 'b1',
        landing_url: 'https://shop.example.com/p?x=1',
        clicked_at: expect.any(String),
        created_at: expect.any(String),
      });
    });

    it('re-posting an identical click is not an error; a different click with the same id is 409', async () => {
      const body = {
        click_id: `clk_same_${Date.now()}_${Math.random().toString(36).slice(2)}`,
        tag_id: f.tagId,
        bid_id: 'b1',
        clicked_at: '2026-05-26T12:00:00Z',
      };
      const a = await api.post('/api/clicks', body, f.ingestKey);
      const b = await api.post('/api/clicks', body, f.ingestKey);
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.body).toEqual(a.body);
      const c = await api.post('/api/clicks', { ...body, bid_id: 'b2' }, f.ingestKey);
      expect(c.status).toBe(409);
      expect(c.body).toEqual({ detail: 'A different click with this click_id is already registered' });
    });

    it('unknown tags are 422; wrong roles 403; PATCH attaches a late bid once', async () => {
      const r = await api.post('/api/clicks', { tag_id: 'nope' }, f.ingestKey);
      expect(r.status).toBe(422);
      expect(r.body.detail[0]).toMatchObject({ loc: ['body', 'tag_id'] });
      expect((await api.post('/api/clicks', { tag_id: f.tagId }, f.partnerKey)).status).toBe(403);
      const c = await api.post('/api/clicks', { tag_id: f.tagId }, f.ingestKey);
      const p1 = await api.request('PATCH', `/api/clicks/${c.body.click_id}`, {
        key: f.ingestKey,
        body: { bid_id: 'late' },
      });
      expect(p1.status).toBe(200);
      expect(p1.body).toEqual({ ...c.body, bid_id: 'late' });
      const same = await api.request('PATCH', `/api/clicks/${c.body.click_id}`, {
        key: f.ingestKey,
        body: { bid_id: 'late' },
      });
      expect(same.status).toBe(200);
      const other = await api.request('PATCH', `/api/clicks/${c.body.click_id}`, {
        key: f.ingestKey,
        body: { bid_id: 'other' },
      });
      expect(other.status).toBe(409);
      const missing = await api.request('PATCH', '/api/clicks/clk_nope', { key: f.ingestKey, body: { bid_id: 'x' } });
      expect(missing.status).toBe(404);
      expect(missing.body).toEqual({ detail: 'Click not found' });
    });
  });

  it('path parameters with NUL or over 255 characters are 422, never a 5xx', async () => {
    const nul = await api.request('PATCH', '/api/clicks/a%00b', { key: f.ingestKey, body: { bid_id: 'x' } });
    expect(nul.status).toBe(422);
    expect(nul.body.detail[0]).toMatchObject({ type: 'string_unicode', loc: ['path', 'click_id'] });
    const max = await api.request('PATCH', `/api/clicks/${'c'.repeat(255)}`, {
      key: f.ingestKey,
      body: { bid_id: 'x' },
    });
    expect(max.status).toBe(404);
    expect(max.body).toEqual({ detail: 'Click not found' });
    const long = await api.request('DELETE', `/admin/keys/${'k'.repeat(300)}`, { key: ADMIN_KEY });
    expect(long.status).toBe(414);
    expect(long.body).toEqual({ detail: expect.any(String) });
  });

  it('GET /health answers 200 {"status":"ok"} without a key', async () => {
    const r = await api.request('GET', '/health');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('serves Swagger UI at /docs and the document at /docs-json, with the bearer scheme', async () => {
    const ui = await api.request('GET', '/docs');
    expect(ui.status).toBe(200);
    expect(String(ui.body)).toContain('swagger');
    const doc = await api.request('GET', '/docs-json');
    expect(doc.status).toBe(200);
    expect(doc.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    const op = doc.body.paths['/api/conversion'].post;
    expect(op.operationId).toBe('createConversion');
    expect(Object.keys(op.responses).sort()).toEqual([
      '200',
      '400',
      '401',
      '403',
      '404',
      '413',
      '415',
      '422',
      '429',
      '503',
    ]);
  });

  it('unknown routes are 404 {"detail":"Not Found"}', async () => {
    const r = await api.request('GET', '/nope', { key: ADMIN_KEY });
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ detail: 'Not Found' });
  });
});
