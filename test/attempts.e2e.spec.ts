import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makeClick, makePartner } from './api-client';
import { db } from './db';
import { ADMIN_KEY, createTestApp, onPostgres, TestApp } from './test-app';
import { AttemptsRecorder } from '../src/modules/attempts/attempts.recorder';
import { AttemptsRepository } from '../src/modules/attempts/attempts.repository';
import { RetentionJob } from '../src/modules/attempts/retention';
import { MetricsService } from '../src/modules/observability/metrics.service';
import { sqliteTime } from '../src/database/column-types';
import { buildDataSourceOptions } from '../src/database/data-source-options';
import { DataSource } from 'typeorm';

const ORIGIN = 'https://shop.example.com';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function attemptsOf(t: TestApp, clickId: string): Promise<Record<string, any>[]> {
  await t.app.get(AttemptsRecorder).flush();
  const p = onPostgres ? '$1' : '?';
  return db(t).query(`SELECT * FROM conversion_attempts WHERE click_id = ${p} ORDER BY at`, [clickId]);
}

async function metricValue(t: TestApp, name: string, label: string): Promise<number> {
  const m = await t.app.get(MetricsService).registry.getSingleMetric(name)?.get();
  return m?.values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;
}

describe('refused conversion attempts (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;

  beforeAll(async () => {
    t = await createTestApp({ ATTEMPTS_FLUSH_INTERVAL: '1h' });
    api = new ApiClient(t.app);
    f = await makePartner(api, undefined, [ORIGIN]);
  });
  afterAll(() => t.close());
  afterEach(() => jest.restoreAllMocks());

  it('keeps a 404 on POST /api/conversion with who, what was sent, why and the request id', async () => {
    const clickId = `clk_missing_${randomUUID()}`;
    const r = await api.post(
      '/api/conversion',
      conversionBody(clickId, { order_id: 'o-1', event_id: 'e-1', event_type: 'purchase_completed' }),
      f.partnerKey,
    );
    expect(r.status).toBe(404);
    expect(r.body).toEqual({ detail: 'Click not found' });
    const rows = await attemptsOf(t, clickId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      partner_id: f.partnerId,
      key_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      source: 'api',
      click_id: clickId,
      order_id: 'o-1',
      event_id: 'e-1',
      event_type: 'purchase_completed',
      status: 404,
      reason: 'click_not_found',
      error_loc: null,
      error_type: null,
      request_id: r.headers['x-request-id'],
    });
  });

  it('keeps each refused item of a batch, with source batch, and nothing for the accepted ones', async () => {
    const good = await makeClick(api, f);
    const missing = `clk_missing_${randomUUID()}`;
    const r = await api.post(
      '/api/conversions/batch',
      {
        conversions: [
          conversionBody(good, { order_id: 'b-ok' }),
          conversionBody(missing, { order_id: 'b-404' }),
          conversionBody(good, { order_id: 'b-422', currency: 'XXXX' }),
        ],
      },
      f.partnerKey,
    );
    expect(r.status).toBe(200);
    expect(r.body.counts).toEqual({ ok: 1, duplicate: 0, rejected: 2 });
    const [notFound] = await attemptsOf(t, missing);
    expect(notFound).toMatchObject({
      partner_id: f.partnerId,
      source: 'batch',
      order_id: 'b-404',
      status: 404,
      reason: 'click_not_found',
      request_id: r.headers['x-request-id'],
    });
    const onGood = await attemptsOf(t, good);
    expect(onGood).toHaveLength(1);
    expect(onGood[0]).toMatchObject({
      source: 'batch',
      order_id: 'b-422',
      status: 422,
      reason: 'validation',
      error_type: 'string_too_long',
    });
    expect(onGood[0].error_loc).toBe('body.conversions.2.currency');
  });

  it('keeps a 400 (click without bid) and a 422 with its first loc and type', async () => {
    const noBid = await makeClick(api, f, { bid_id: null });
    expect((await api.post('/api/conversion', conversionBody(noBid), f.partnerKey)).status).toBe(400);
    const bad = await api.post('/api/conversion', conversionBody(noBid, { conversion_value: 'abc' }), f.partnerKey);
    expect(bad.status).toBe(422);
    const rows = await attemptsOf(t, noBid);
    expect(rows.map((r) => [r.status, r.reason, r.error_loc, r.error_type])).toEqual([
      [400, 'click_missing_bid', null, null],
      [422, 'validation', 'body.conversion_value', bad.body.detail[0].type],
    ]);
  });

  it('bounds what it keeps: an event type of 10,000 characters is kept as its first 255', async () => {
    const clickId = `clk_long_${randomUUID()}`;
    const r = await api.post(
      '/api/conversion',
      conversionBody(clickId, { event_type: 'x'.repeat(10_000) }),
      f.partnerKey,
    );
    expect(r.status).toBe(422);
    const rows = await attemptsOf(t, clickId);
    expect(rows).toHaveLength(1);
    expect(rows[0].event_type).toBe('x'.repeat(255));
  });

  it('keeps a duplicate as reason duplicate, status 200, with what it matched; not a validate-only one', async () => {
    const clickId = await makeClick(api, f);
    const body = conversionBody(clickId, { event_id: 'dup-e' });
    const ok = await api.post('/api/conversion', body, f.partnerKey);
    expect(ok.body.status).toBe('ok');
    expect((await api.post('/api/conversion?validate_only=true', body, f.partnerKey)).body.status).toBe('duplicate');
    const before = await metricValue(t, 'conversion_attempts_recorded_total', 'duplicate');
    const dup = await api.post('/api/conversion', body, f.partnerKey);
    expect(dup.body.status).toBe('duplicate');
    const rows = await attemptsOf(t, clickId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      partner_id: f.partnerId,
      source: 'api',
      status: 200,
      reason: 'duplicate',
      event_id: 'dup-e',
      matched_on: 'event_id',
      matched_conversion_id: ok.body.conversion_id,
      request_id: dup.headers['x-request-id'],
      mode: 'live',
    });
    expect(await metricValue(t, 'conversion_attempts_recorded_total', 'duplicate')).toBe(before + 1);
  });

  it('never stores an unauthenticated attempt (401), nor an accepted one', async () => {
    const clickId = await makeClick(api, f);
    expect((await api.post('/api/conversion', conversionBody(clickId), 'thr_not_a_key_000000000000')).status).toBe(401);
    expect((await api.post('/api/conversion', conversionBody(clickId))).status).toBe(401);
    expect((await api.post('/api/conversion', conversionBody(clickId), f.partnerKey)).status).toBe(200);
    expect(await attemptsOf(t, clickId)).toEqual([]);
  });

  it("keeps a Tag refusal under the click's partner (no key id); a bad signature (401) is never stored", async () => {
    const c = await api.post('/api/clicks', { tag_id: f.tagId }, f.ingestKey);
    expect(c.status).toBe(201);
    const body = conversionBody(c.body.click_id, { sig: c.body.sig, exp: c.body.exp });
    const r = await api.post('/api/tag/conversion', body, undefined, { origin: ORIGIN });
    expect(r.status).toBe(400);
    const forged = await api.post('/api/tag/conversion', { ...body, sig: c.body.sig.slice(0, -2) + 'AA' }, undefined, {
      origin: ORIGIN,
    });
    expect(forged.status).toBe(401);
    const rows = await attemptsOf(t, c.body.click_id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ partner_id: f.partnerId, key_id: null, source: 'tag', status: 400 });
    expect(rows[0].reason).toBe('click_missing_bid');
  });

  it('a failed flush is logged and counted, never seen by the client', async () => {
    const before = await metricValue(t, 'conversion_attempts_dropped_total', 'write_failed');
    jest.spyOn(t.app.get(AttemptsRepository), 'insertMany').mockRejectedValue(new Error('disk full'));
    const clickId = `clk_fail_${randomUUID()}`;
    const r = await api.post('/api/conversion', conversionBody(clickId), f.partnerKey);
    expect(r.status).toBe(404);
    await t.app.get(AttemptsRecorder).flush();
    expect(await metricValue(t, 'conversion_attempts_dropped_total', 'write_failed')).toBe(before + 1);
    jest.restoreAllMocks();
    expect(await attemptsOf(t, clickId)).toEqual([]);
  });
});

describe('refused attempts: a full queue drops and counts', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await createTestApp({ ATTEMPTS_QUEUE_MAX: '2', ATTEMPTS_FLUSH_INTERVAL: '1h' });
    api = new ApiClient(t.app);
  });
  afterAll(() => t.close());

  it('answers every request as usual, keeps 2, drops the third and counts it', async () => {
    const f = await makePartner(api);
    const clickId = `clk_full_${randomUUID()}`;
    for (let i = 0; i < 3; i++) {
      const r = await api.post('/api/conversion', conversionBody(clickId), f.partnerKey);
      expect(r.status).toBe(404);
    }
    expect(t.app.get(AttemptsRecorder).pending).toBe(2);
    expect(await metricValue(t, 'conversion_attempts_dropped_total', 'queue_full')).toBe(1);
    expect(await attemptsOf(t, clickId)).toHaveLength(2);
    const metrics = await api.request('GET', '/metrics', { key: ADMIN_KEY });
    expect(metrics.body).toContain('conversion_attempts_dropped_total{reason="queue_full"} 1');
  });
});

describe('duplicates: a full queue drops and counts', () => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await createTestApp({ ATTEMPTS_QUEUE_MAX: '2', ATTEMPTS_FLUSH_INTERVAL: '1h' });
    api = new ApiClient(t.app);
  });
  afterAll(() => t.close());

  it('a duplicate on a full queue is dropped and counted the same way', async () => {
    const f = await makePartner(api);
    const clickId = await makeClick(api, f);
    const body = conversionBody(clickId, { order_id: 'q-dup' });
    expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('ok');
    const recorder = t.app.get(AttemptsRecorder);
    await recorder.flush();
    for (let i = 0; i < 2; i++) await api.post('/api/conversion', conversionBody(`clk_fill_${i}`), f.partnerKey);
    const before = await metricValue(t, 'conversion_attempts_dropped_total', 'queue_full');
    expect((await api.post('/api/conversion', body, f.partnerKey)).body.status).toBe('duplicate');
    expect(await metricValue(t, 'conversion_attempts_dropped_total', 'queue_full')).toBe(before + 1);
    await recorder.flush();
  });
});

describe('refused attempts: flushed at shutdown', () => {
  it('writes what is still queued when the app closes', async () => {
    const t = await createTestApp({ ATTEMPTS_FLUSH_INTERVAL: '1h' });
    const api = new ApiClient(t.app);
    const f = await makePartner(api);
    const clickId = `clk_shutdown_${randomUUID()}`;
    expect((await api.post('/api/conversion', conversionBody(clickId), f.partnerKey)).status).toBe(404);
    expect(t.app.get(AttemptsRecorder).pending).toBe(1);
    await t.close();
    const ds = new DataSource(buildDataSourceOptions(t.config));
    await ds.initialize();
    try {
      const rows = await ds.query(
        `SELECT reason FROM conversion_attempts WHERE click_id = ${onPostgres ? '$1' : '?'}`,
        [clickId],
      );
      expect(rows).toEqual([{ reason: 'click_not_found' }]);
    } finally {
      await ds.destroy();
    }
  });
});

describe('refused attempts: ATTEMPTS_RECORDING=off', () => {
  it('keeps nothing', async () => {
    const t = await createTestApp({ ATTEMPTS_RECORDING: 'off' });
    try {
      const api = new ApiClient(t.app);
      const f = await makePartner(api);
      const clickId = `clk_off_${randomUUID()}`;
      expect((await api.post('/api/conversion', conversionBody(clickId), f.partnerKey)).status).toBe(404);
      expect(t.app.get(AttemptsRecorder).pending).toBe(0);
      expect(await attemptsOf(t, clickId)).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('retention', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ ATTEMPTS_RETENTION: '30d', DEDUP_WINDOW: '7d' });
  });
  afterAll(() => t.close());

  it('deletes attempts past ATTEMPTS_RETENTION and dedup claims past the dedup window, and nothing else', async () => {
    const ds = db(t);
    const now = Date.now();
    const day = 86_400_000;
    const time = (ms: number) => (onPostgres ? new Date(ms).toISOString() : sqliteTime(new Date(ms)));
    const p = (n: number) => Array.from({ length: n }, (_, i) => (onPostgres ? `$${i + 1}` : '?')).join(', ');
    const tag = randomUUID();
    for (const [id, age] of [
      [`old-${tag}`, 31 * day],
      [`new-${tag}`, 29 * day],
    ] as const) {
      await ds.query(
        `INSERT INTO conversion_attempts (id, at, partner_id, source, status, reason, click_id) VALUES (${p(7)})`,
        [randomUUID(), time(now - age), 'p', 'api', 404, 'click_not_found', id],
      );
    }
    for (const [key, age] of [
      [`old-${tag}`, 7 * day + 1000],
      [`new-${tag}`, 7 * day - 60_000],
    ] as const) {
      await ds.query(
        `INSERT INTO dedup_claims (dedup_key, click_id, event_type, conversion_id, claimed_at) VALUES (${p(5)})`,
        [key, 'clk', 'purchase_completed', randomUUID(), now - age],
      );
    }
    const removed = await t.app.get(RetentionJob).run();
    expect(removed.attempts).toBeGreaterThanOrEqual(1);
    expect(removed.dedupClaims).toBeGreaterThanOrEqual(1);
    const attempts: { click_id: string }[] = await ds.query(
      `SELECT click_id FROM conversion_attempts WHERE click_id LIKE ${p(1)}`,
      [`%-${tag}`],
    );
    expect(attempts.map((a) => a.click_id)).toEqual([`new-${tag}`]);
    const claims: { dedup_key: string }[] = await ds.query(
      `SELECT dedup_key FROM dedup_claims WHERE dedup_key LIKE ${p(1)}`,
      [`%-${tag}`],
    );
    expect(claims.map((c) => c.dedup_key)).toEqual([`new-${tag}`]);
  });
});
