import { MIGRATIONS } from '../src/database/migrations';
import { DataSource } from 'typeorm';
import { conversionBody, makeClick } from './api-client';
import { ADMIN_KEY, useTestApp } from './test-app';

const METRICS_TOKEN = 'metrics-token-0123456789';

describe('observability (e2e): request id, /metrics, /health/live, /health/ready', () => {
  const { t, api, partner: f } = useTestApp({ env: { METRICS_TOKEN } });

  it('echoes a sent X-Request-Id on every answer, including errors, and makes one up otherwise', async () => {
    const sent = await api.request('GET', '/health/live', { headers: { 'x-request-id': 'req-abc-123' } });
    expect(sent.headers['x-request-id']).toBe('req-abc-123');
    const err = await api.post('/api/conversion', {}, 'not-a-key', { 'x-request-id': 'req-err-1' });
    expect(err.status).toBe(401);
    expect(err.headers['x-request-id']).toBe('req-err-1');
    const notFound = await api.request('GET', '/nope', { headers: { 'x-request-id': 'req-404' } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers['x-request-id']).toBe('req-404');
    const made = await api.request('GET', '/health/live');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const tooLong = await api.request('GET', '/health/live', { headers: { 'x-request-id': 'x'.repeat(200) } });
    expect(tooLong.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('GET /health/live is 200 and /health/ready checks the database and migrations; /health is unchanged', async () => {
    const live = await api.request('GET', '/health/live');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
    const ready = await api.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: 'ok',
      info: {
        database: { status: 'up', responseTime: expect.any(Number) },
        migrations: {
          status: 'up',
          applied: MIGRATIONS.length,
          expected: MIGRATIONS.length,
          responseTime: expect.any(Number),
        },
      },
      error: {},
      details: {
        database: { status: 'up', responseTime: expect.any(Number) },
        migrations: {
          status: 'up',
          applied: MIGRATIONS.length,
          expected: MIGRATIONS.length,
          responseTime: expect.any(Number),
        },
      },
    });
    const h = await api.request('GET', '/health');
    expect(h.status).toBe(200);
    expect(h.body).toEqual({ status: 'ok' });
  });

  it('GET /health/ready is 503 with Retry-After while a migration of this build is not applied', async () => {
    const ds = t.app.get(DataSource);
    const rows: { id: number; timestamp: string; name: string }[] = await ds.query(
      'SELECT id, timestamp, name FROM migrations',
    );
    await ds.query('DELETE FROM migrations');
    try {
      const r = await api.request('GET', '/health/ready');
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('5');
      expect(r.body.status).toBe('error');
      expect(r.body.error).toEqual({
        migrations: {
          status: 'down',
          responseTime: expect.any(Number),
          message: expect.stringMatching(/^pending migrations: InitialSchema/),
        },
      });
    } finally {
      for (const m of rows)
        await ds.query(`INSERT INTO migrations (id, timestamp, name) VALUES (${m.id}, ${m.timestamp}, '${m.name}')`);
    }
    expect((await api.request('GET', '/health/ready')).status).toBe(200);
  });

  it('protects /metrics: no token 401, a partner key 403, METRICS_TOKEN or a support/admin key 200', async () => {
    const none = await api.request('GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ detail: 'Missing bearer token' });
    expect(none.headers['www-authenticate']).toBe('Bearer');
    const bad = await api.request('GET', '/metrics', { key: 'wrong-token-0123456789' });
    expect(bad.status).toBe(401);
    expect(bad.body).toEqual({ detail: 'Invalid API key' });
    const partner = await api.request('GET', '/metrics', { key: f.partnerKey });
    expect(partner.status).toBe(403);
    expect(partner.body).toEqual({ detail: 'This API key may not call this endpoint' });
    const support = await api.post('/admin/keys', { role: 'support' }, ADMIN_KEY);
    for (const key of [METRICS_TOKEN, ADMIN_KEY, support.body.key]) {
      const ok = await api.request('GET', '/metrics', { key });
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/plain/);
    }
  });

  it('counts requests by route and status, conversions by outcome and source, dedup matches by layer', async () => {
    const click = await makeClick(api, f);
    const body = conversionBody(click, { event_id: 'ev-1' });
    expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('ok');
    expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('duplicate');
    expect((await api.post('/api/conversion', conversionBody('clk_missing'), f.partnerKey)).status).toBe(404);
    expect((await api.post('/api/conversion', { click_id: click }, f.partnerKey)).status).toBe(422);
    const m = await api.request('GET', '/metrics', { key: METRICS_TOKEN });
    const text = m.body as string;
    expect(text).toContain('conversions_total{outcome="ok",source="api"} 1');
    expect(text).toContain('conversions_total{outcome="duplicate",source="api"} 1');
    expect(text).toContain('conversions_total{outcome="click_not_found",source="api"} 1');
    expect(text).toContain('conversions_total{outcome="validation",source="api"} 1');
    expect(text).toContain('dedup_matches_total{layer="event_id"} 1');
    expect(text).toContain('http_requests_total{method="POST",route="/api/conversion",status="200"} 2');
    expect(text).toContain('http_requests_total{method="POST",route="/api/conversion",status="404"} 1');
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/api\/conversion",status="422"\} 1/,
    );
    expect(text).toContain('http_requests_total{method="GET",route="unmatched",status="404"}');
    expect(text).toContain('# TYPE db_pool_connections gauge');
  });

  it('counts browser Tag conversions under source="tag"', async () => {
    const reg = await api.post(
      '/api/clicks',
      { tag_id: f.tagId, click_id: `clk_tag_${Date.now()}`, bid_id: 'bid_t' },
      f.ingestKey,
    );
    expect(reg.status).toBe(201);
    const body = conversionBody(reg.body.click_id, { event_id: 'tag-ev-1', sig: reg.body.sig, exp: reg.body.exp });
    const first = await api.post('/api/tag/conversion', body, undefined, { origin: 'https://shop.example.com' });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe('ok');
    const again = await api.post('/api/tag/conversion', body, undefined, { origin: 'https://shop.example.com' });
    expect(again.body.status).toBe('duplicate');
    const text = (await api.request('GET', '/metrics', { key: METRICS_TOKEN })).body as string;
    expect(text).toContain('conversions_total{outcome="ok",source="tag"} 1');
    expect(text).toContain('conversions_total{outcome="duplicate",source="tag"} 1');
  });
});
