import { Client } from 'pg';
import {
  adminClient,
  Answer,
  BASE_URL,
  byStatus,
  call,
  conversion,
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
const EVENT = 'purchase_completed';
const OUTAGE_MS = 2500;
const RECOVERY_BOUND_MS = 5000;

d('fault: database connections terminated mid-run (outage of 2.5 s)', () => {
  let db: string;
  let svc: Service | undefined;
  let admin: Client | undefined;
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    await admin?.end();
    if (db) await dropDatabase(db);
  });

  it('answers only 200 or 503 (with Retry-After), loses no ok, and recovers within seconds without a restart', async () => {
    db = await freshDatabase('outage');
    const dbName = new URL(db).pathname.slice(1);
    svc = await startService(3611, db, { DB_CONNECT_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '2000' });
    const s = await setupPartner(svc.url, 10);
    admin = await adminClient();

    const sent: { key: string; click: string; a: Answer }[] = [];
    let n = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const key = `outage-${n++}`;
        const click = s.clicks[n % s.clicks.length];
        const a = await call(svc!.url, 'POST', '/api/conversion', {
          key: s.partnerKey,
          body: conversion(click),
          headers: { 'idempotency-key': key },
        });
        sent.push({ key, click, a });
        if (a.status === 503) await sleep(100); // a polite client backs off a little
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await sleep(1500);
    // The outage: no new connections, every existing one terminated, for OUTAGE_MS.
    const outageStart = Date.now();
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS false`);
    const term = await admin.query(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = $1`,
      [dbName],
    );
    await sleep(1000);
    const readyDuring = await call(svc.url, 'GET', '/health/ready');
    const liveDuring = await call(svc.url, 'GET', '/health/live');
    await sleep(OUTAGE_MS - 1000);
    await admin.query(`ALTER DATABASE "${dbName}" ALLOW_CONNECTIONS true`);
    const outageEnd = Date.now();
    await sleep(RECOVERY_BOUND_MS + 1000);
    stop = true;
    await Promise.all(workers);
    const readyAfter = await call(svc.url, 'GET', '/health/ready');

    const answers = sent.map((x) => x.a);
    const firstOkAfter = sent
      .filter((x) => x.a.status === 200 && x.a.at > outageEnd)
      .sort((a, b) => a.a.at - b.a.at)[0];
    const recoveryMs = firstOkAfter ? firstOkAfter.a.at - outageEnd : Infinity;
    const late503 = sent.filter((x) => x.a.status === 503 && x.a.at > outageEnd + RECOVERY_BOUND_MS);
    const early503 = sent.filter((x) => x.a.status === 503 && x.a.at < outageStart);
    const bad503 = sent.filter(
      (x) => x.a.status === 503 && (x.a.retryAfter !== '2' || typeof x.a.body?.detail !== 'string'),
    );
    const maxMs = Math.max(...answers.map((a) => a.ms));

    // Clients retry what was not ok: every key ends up exactly once.
    const retries: Answer[] = [];
    for (const x of sent.filter((x) => x.a.status !== 200)) {
      const a = await call(svc.url, 'POST', '/api/conversion', {
        key: s.partnerKey,
        body: conversion(x.click),
        headers: { 'idempotency-key': x.key },
      });
      retries.push(a);
    }
    const rows = await rowsPerKey(db, s.partnerId);
    const okKeys = sent.filter((x) => x.a.status === 200 && x.a.body?.status === 'ok');
    const lostOk = okKeys.filter((x) => rows.get(`${x.key}|${x.click}|${EVENT}`) !== 1);
    const duplicates = [...rows.values()].reduce((acc, c) => acc + Math.max(0, c - 1), 0);
    const notOnce = sent.filter((x) => rows.get(`${x.key}|${x.click}|${EVENT}`) !== 1);
    report('db-outage', {
      requests_sent: answers.length,
      ok_answered: okKeys.length,
      by_status: byStatus(answers),
      backends_terminated: Number(term.rows[0].n),
      outage_ms: outageEnd - outageStart,
      recovery_ms_after_outage: recoveryMs,
      max_latency_ms: maxMs,
      retries_after: {
        sent: retries.length,
        by_status: byStatus(retries),
        outcomes: retries.reduce<Record<string, number>>(
          (o, a) => ((o[String(a.body?.status)] = (o[String(a.body?.status)] ?? 0) + 1), o),
          {},
        ),
      },
      health_during: { ready: readyDuring.status, live: liveDuring.status },
      health_ready_after: readyAfter.status,
      rows_found: [...rows.values()].reduce((a, b) => a + b, 0),
      lost_ok: lostOk.length,
      duplicates,
    });
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(readyDuring.status).toBe(503);
    expect(liveDuring.status).toBe(200);
    expect(readyAfter.status).toBe(200);
    expect(byStatus(answers)['503']).toBeGreaterThan(0);
    expect(early503).toEqual([]);
    expect(late503).toEqual([]);
    expect(bad503).toEqual([]);
    expect(recoveryMs).toBeLessThan(RECOVERY_BOUND_MS);
    expect(maxMs).toBeLessThan(5000);
    expect(retries.every((a) => a.status === 200)).toBe(true);
    expect(lostOk).toEqual([]);
    expect(duplicates).toBe(0);
    expect(notOnce).toEqual([]);
  });
});
