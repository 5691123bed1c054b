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
  sleep,
  startService,
} from './harness';

const d = BASE_URL ? describe : describe.skip;

d('graceful shutdown on SIGTERM', () => {
  let db: string;
  let svc: Service | undefined;
  let locker: Client | undefined;
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    await locker?.end().catch(() => undefined);
    if (db) await dropDatabase(db);
  });

  it('finishes in-flight requests, refuses new ones, closes the pool and exits 0', async () => {
    db = await freshDatabase('shutdown');
    svc = await startService(3641, db, { DB_STATEMENT_TIMEOUT_MS: '8000', SHUTDOWN_TIMEOUT_MS: '6000' });
    const s = await setupPartner(svc.url, 3);
    const dbName = new URL(db).pathname.slice(1);

    // Hold the table so the requests are still in flight when SIGTERM arrives.
    locker = await dbClient(db);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE conversions IN ACCESS EXCLUSIVE MODE');
    const jobs = Array.from({ length: 6 }, (_, i) => ({ key: `shutdown-${i}`, click: s.clicks[i % s.clicks.length] }));
    const inflight = jobs.map((j) =>
      call(svc!.url, 'POST', '/api/conversion', {
        key: s.partnerKey,
        body: conversion(j.click),
        headers: { 'idempotency-key': j.key },
      }),
    );
    await sleep(500);
    const t0 = Date.now();
    svc.proc.kill('SIGTERM');
    await sleep(300);
    const during = await call(svc.url, 'POST', '/api/conversion', {
      key: s.partnerKey,
      body: conversion(s.clicks[0]),
      headers: { 'idempotency-key': 'after-sigterm' },
    });
    await sleep(700);
    await locker.query('ROLLBACK');
    const answers: Answer[] = await Promise.all(inflight);
    const exit = await svc.exited;
    const exitMs = Date.now() - t0;
    const left = await locker.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [dbName],
    );
    const rows = await rowsPerKey(db, s.partnerId);
    report('shutdown', {
      in_flight_at_sigterm: jobs.length,
      in_flight_by_status: byStatus(answers),
      new_request_after_sigterm: during.status === 0 ? 'refused' : during.status,
      exit_code: exit.code,
      exit_signal: exit.signal,
      exit_ms_after_sigterm: exitMs,
      db_connections_left: left.rows[0].n,
      rows_found: [...rows.values()].reduce((a, b) => a + b, 0),
    });
    expect(byStatus(answers)).toEqual({ 200: jobs.length });
    expect(answers.every((a) => a.body?.status === 'ok')).toBe(true);
    expect([0, 503]).toContain(during.status); // refused, or 503 on a kept-alive connection
    expect(exit).toEqual({ code: 0, signal: null });
    expect(left.rows[0].n).toBe(0);
    for (const j of jobs) expect(rows.get(`${j.key}|${j.click}|purchase_completed`)).toBe(1);
  });
});
