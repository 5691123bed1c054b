import { Client } from 'pg';
import {
  Answer,
  BASE_URL,
  byStatus,
  call,
  conversion,
  dbClient,
  dropDatabase,
  freshDatabase,
  report,
  rowsPerKey,
  Service,
  setupPartner,
  startService,
} from './harness';

const d = BASE_URL ? describe : describe.skip;
const EVENT = 'purchase_completed';
const STATEMENT_TIMEOUT_MS = 1500;
const CONNECT_TIMEOUT_MS = 1000;
/** The most a request may wait: the statement timeout, plus a wait for a pooled connection, plus slack for this busy box. */
const BOUND_MS = STATEMENT_TIMEOUT_MS + CONNECT_TIMEOUT_MS + 1500;

d('fault: a lock held on the conversions table', () => {
  let db: string;
  let svc: Service | undefined;
  let locker: Client | undefined;
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    await locker?.end().catch(() => undefined);
    if (db) await dropDatabase(db);
  });

  it('answers 503 with Retry-After within a bounded time instead of piling up, then serves again', async () => {
    db = await freshDatabase('lock');
    svc = await startService(3631, db, {
      DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
      DB_POOL_SIZE: '4',
    });
    const s = await setupPartner(svc.url, 5);
    // Warm the key cache path once so the lock is what the requests meet.
    const warm = await call(svc.url, 'POST', '/api/conversion', {
      key: s.partnerKey,
      body: conversion(s.clicks[0]),
      headers: { 'idempotency-key': 'lock-warm' },
    });
    expect(warm.status).toBe(200);

    locker = await dbClient(db);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE conversions IN ACCESS EXCLUSIVE MODE');
    const t0 = Date.now();
    const jobs = Array.from({ length: 30 }, (_, i) => ({ key: `lock-${i}`, click: s.clicks[i % s.clicks.length] }));
    const answers: Answer[] = await Promise.all(
      jobs.map((j) =>
        call(svc!.url, 'POST', '/api/conversion', {
          key: s.partnerKey,
          body: conversion(j.click),
          headers: { 'idempotency-key': j.key },
        }),
      ),
    );
    const allAnsweredMs = Date.now() - t0;
    await locker.query('ROLLBACK');

    // After the lock: the same requests, retried, are written exactly once.
    const retries = await Promise.all(
      jobs.map((j) =>
        call(svc!.url, 'POST', '/api/conversion', {
          key: s.partnerKey,
          body: conversion(j.click),
          headers: { 'idempotency-key': j.key },
        }),
      ),
    );
    const rows = await rowsPerKey(db, s.partnerId);
    const maxMs = Math.max(...answers.map((a) => a.ms));
    report('table-lock', {
      requests_sent: answers.length,
      by_status_while_locked: byStatus(answers),
      max_latency_ms_while_locked: maxMs,
      all_answered_ms: allAnsweredMs,
      bound_ms: BOUND_MS,
      retries_by_status: byStatus(retries),
      retry_outcomes: retries.reduce<Record<string, number>>(
        (o, a) => ((o[String(a.body?.status)] = (o[String(a.body?.status)] ?? 0) + 1), o),
        {},
      ),
      rows_found: [...rows.values()].reduce((a, b) => a + b, 0),
      duplicates: [...rows.values()].reduce((acc, c) => acc + Math.max(0, c - 1), 0),
    });
    expect(byStatus(answers)).toEqual({ 503: jobs.length });
    for (const a of answers) {
      expect(a.body).toEqual({ detail: 'Service temporarily unavailable, retry later' });
      expect(a.retryAfter).toBe('2');
    }
    expect(maxMs).toBeLessThan(BOUND_MS);
    expect(byStatus(retries)).toEqual({ 200: jobs.length });
    expect(retries.every((a) => a.body?.status === 'ok')).toBe(true); // nothing was half-written
    for (const j of jobs) expect(rows.get(`${j.key}|${j.click}|${EVENT}`)).toBe(1);
  });
});
