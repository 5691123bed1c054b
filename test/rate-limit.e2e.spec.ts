import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient, conversionBody, Fixture, makeClick, makePartner } from './api-client';
import { ADMIN_KEY, createTestApp, TestApp, useTestApp } from './test-app';

const REDIS_URL = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';

function redisReachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = createConnection({ host: u.hostname, port: Number(u.port || 6379) });
    s.setTimeout(500);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

describe('rate limits per API key (e2e, in memory)', () => {
  const { api } = useTestApp({ env: { RATE_LIMIT_PER_MINUTE: '5' }, partners: 0 });

  it('counts every request of a key, answers 429 with Retry-After past the limit, and leaves other keys alone', async () => {
    const f = await makePartner(api);
    const click = await makeClick(api, f);
    for (let i = 0; i < 5; i++) {
      const r = await api.post('/api/conversion', conversionBody(click), f.partnerKey);
      expect(r.status).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBe('5');
      expect(r.headers['x-ratelimit-remaining']).toBe(String(4 - i));
      expect(Number(r.headers['x-ratelimit-reset'])).toBeGreaterThan(0);
    }
    const over = await api.post('/api/conversion', conversionBody(click), f.partnerKey);
    expect(over.status).toBe(429);
    expect(over.body).toEqual({ detail: 'Too many requests' });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(50);
    expect(Number(over.headers['retry-after'])).toBeLessThanOrEqual(60);
    // Another partner's key has its own budget; public routes are not counted.
    const g = await makePartner(api);
    const other = await api.post('/api/conversion', conversionBody(await makeClick(api, g)), g.partnerKey);
    expect(other.status).toBe(200);
    expect(other.headers['x-ratelimit-remaining']).toBe('4');
    const health = await api.request('GET', '/health/live');
    expect(health.headers['x-ratelimit-limit']).toBeUndefined();
  });

  it("lets an admin set a partner's own limit (0 unlimited, null back to the default) and validates it", async () => {
    const f = await makePartner(api);
    const click = await makeClick(api, f);
    const set = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: 2 },
    });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ partner_id: f.partnerId, rate_limit_per_minute: 2, effective_per_minute: 2 });
    expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).headers['x-ratelimit-limit']).toBe(
      '2',
    );
    expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status).toBe(200);
    expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status).toBe(429);

    const unlimited = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: 0 },
    });
    expect(unlimited.body).toEqual({ partner_id: f.partnerId, rate_limit_per_minute: 0, effective_per_minute: 0 });
    const free = await api.post('/api/conversion', conversionBody(click), f.partnerKey);
    expect(free.status).toBe(200);
    expect(free.headers['x-ratelimit-limit']).toBeUndefined();

    const back = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: null },
    });
    expect(back.body).toEqual({ partner_id: f.partnerId, rate_limit_per_minute: null, effective_per_minute: 5 });

    const bad = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: -1 },
    });
    expect(bad.status).toBe(422);
    expect(bad.body).toEqual({
      detail: [
        {
          type: 'greater_than_equal',
          loc: ['body', 'rate_limit_per_minute'],
          msg: 'Input should be greater than or equal to 0',
          input: -1,
          ctx: { ge: 0 },
        },
      ],
    });
    const notInt = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: 1.5 },
    });
    expect(notInt.body).toEqual({
      detail: [
        {
          type: 'int_type',
          loc: ['body', 'rate_limit_per_minute'],
          msg: 'Input should be a valid integer',
          input: 1.5,
        },
      ],
    });
    const missing = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, { key: ADMIN_KEY, body: {} });
    expect(missing.body).toEqual({
      detail: [{ type: 'missing', loc: ['body', 'rate_limit_per_minute'], msg: 'Field required', input: {} }],
    });
    const unknown = await api.request('PUT', `/admin/partners/${randomUUID()}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: 3 },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ detail: 'Partner not found' });
    const byPartner = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: f.partnerKey,
      body: { rate_limit_per_minute: 0 },
    });
    expect(byPartner.status).toBe(403);
  });
});

describe('rate limits per API key (e2e, shared in Redis by two replicas)', () => {
  let a: TestApp | undefined;
  let b: TestApp | undefined;
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('shares one budget per key across replicas', async () => {
    if (!(await redisReachable(REDIS_URL))) {
      console.warn(`Redis not reachable at ${REDIS_URL}: shared rate-limit test skipped`);
      return;
    }
    const env = {
      RATE_LIMIT_PER_MINUTE: '4',
      REDIS_URL,
      REDIS_KEY_PREFIX: `thrad:issue6:test:${randomUUID()}:`,
      SQLITE_PATH: join(mkdtempSync(join(tmpdir(), 'thrad-rl-')), 'shared.sqlite'),
    };
    a = await createTestApp(env);
    b = await createTestApp(env);
    const apiA = new ApiClient(a.app);
    const apiB = new ApiClient(b.app);
    const f: Fixture = await makePartner(apiA);
    const click = await makeClick(apiA, f);
    const statuses: number[] = [];
    for (const api of [apiA, apiB, apiA, apiB, apiA, apiB])
      statuses.push((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    const r = await apiB.post('/api/conversion', conversionBody(click), f.partnerKey);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('fails open when Redis is unreachable: requests are served, not refused', async () => {
    // Nothing listens on this port (within this suite's port range).
    const c = await createTestApp({ RATE_LIMIT_PER_MINUTE: '1', REDIS_URL: 'redis://127.0.0.1:3649' });
    try {
      const api = new ApiClient(c.app);
      const f = await makePartner(api);
      const click = await makeClick(api, f);
      for (let i = 0; i < 3; i++)
        expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status).toBe(200);
    } finally {
      await c.close();
    }
  });
});
