import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from 'pg';
import {
  Answer,
  byStatus,
  call,
  conversion,
  report,
  rowsPerKey,
  Service,
  setupPartner,
  sleep,
  startService,
} from './harness';

/*
 * Issue 15: one Citus worker stopped mid-run (pg_ctl stop -m immediate), then started again.
 * TEST_CITUS_URL names a Citus database of the shared cluster (`citus-cluster db NAME`, its own:
 * the test writes to it); the worker stopped is the last one (port CITUS_FAULT_PORT, default
 * 5442, data in CITUS_DIR/<port>). Only the conversions whose click's shard lives on that worker
 * fail, each with 503 and Retry-After; nothing acknowledged is lost; the service answers them
 * again once the worker is back. The worker is restarted in afterAll whatever happens.
 * Skipped without TEST_CITUS_URL.
 */
const URL_ = process.env.TEST_CITUS_URL || undefined;
const d = URL_ ? describe : describe.skip;
const PORT = Number(process.env.CITUS_FAULT_PORT || 5442);
const DATA = `${process.env.CITUS_DIR || '/tmp/citus-cluster'}/${PORT}`;
const PG_CTL = process.env.CITUS_PG_CTL || '/usr/lib/postgresql/15/bin/pg_ctl';
const OUTAGE_MS = 3000;
const RECOVERY_BOUND_MS = 15_000;

/**
 * pg_ctl as the postgres user (the cluster's nodes run as postgres; the tests as root, as CI does).
 * Asynchronous: the clients of this test run in this process, and a blocked event loop would
 * read their answers late (a start with crash recovery takes seconds).
 */
async function pgCtl(args: string): Promise<void> {
  const cmd = `${PG_CTL} -D '${DATA}' ${args}`;
  const opts = { timeout: 60_000 };
  if (process.getuid?.() === 0) await promisify(execFile)('su', ['postgres', '-c', cmd], opts);
  else await promisify(execFile)('sh', ['-c', cmd], opts);
}

function workerUp(): boolean {
  try {
    execFileSync('pg_isready', ['-h', '127.0.0.1', '-p', String(PORT), '-q'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

d('fault: a Citus worker stopped mid-run (pg_ctl stop -m immediate)', () => {
  let svc: Service | undefined;
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    if (!workerUp()) await pgCtl(`-l '${DATA}.log' -w start`);
  });

  it('fails only the conversions on the stopped worker, with 503; loses no ok; resumes when it is back', async () => {
    // A fresh database migrates first: distributing the tables takes seconds (more on a loaded machine).
    svc = await startService(3621, URL_!, { DB_CONNECT_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '2000' }, 120_000);
    const s = await setupPartner(svc.url, 16);
    const db = new Client({ connectionString: URL_ });
    await db.connect();
    const placement = new Map<string, number>();
    try {
      for (const c of s.clicks) {
        const r = await db.query<{ nodeport: number }>(
          `SELECT nodeport FROM pg_dist_shard_placement WHERE shardid = get_shard_id_for_distribution_column('clicks', $1::varchar)`,
          [c],
        );
        placement.set(c, Number(r.rows[0].nodeport));
      }
    } finally {
      await db.end();
    }
    const onStopped = s.clicks.filter((c) => placement.get(c) === PORT);
    const onOthers = s.clicks.filter((c) => placement.get(c) !== PORT);
    expect(onStopped.length).toBeGreaterThan(0);
    expect(onOthers.length).toBeGreaterThan(0);

    type Sent = { key: string; click: string; a: Answer; phase: 'before' | 'outage' | 'after' };
    const sent: Sent[] = [];
    let phase: Sent['phase'] = 'before';
    let n = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const i = n++;
        const key = `citus-fault-${i}`;
        const click = s.clicks[i % s.clicks.length];
        const at = phase;
        const a = await call(svc!.url, 'POST', '/api/conversion', {
          key: s.partnerKey,
          body: conversion(click),
          headers: { 'idempotency-key': key },
        });
        sent.push({ key, click, a, phase: at === phase ? at : 'outage' });
        if (a.status === 503) await sleep(50);
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await sleep(1500);
    const stopAt = Date.now();
    phase = 'outage';
    await pgCtl('-m immediate stop');
    await sleep(OUTAGE_MS);
    await pgCtl(`-l '${DATA}.log' -w start`);
    const startedMs = Date.now() - stopAt;
    phase = 'after';
    // Recovery: the first ok on a click of the restarted worker.
    let recoveredMs: number | null = null;
    const deadline = Date.now() + RECOVERY_BOUND_MS;
    while (Date.now() < deadline && recoveredMs === null) {
      await sleep(100);
      const ok = sent.find((x) => x.phase === 'after' && onStopped.includes(x.click) && x.a.status === 200);
      if (ok) recoveredMs = ok.a.at - stopAt;
    }
    await sleep(1000);
    stop = true;
    await Promise.all(workers);

    const all = sent.map((x) => x.a);
    const outage = sent.filter((x) => x.phase === 'outage');
    const figures = {
      requests: all.length,
      statuses: byStatus(all),
      outage_on_stopped_worker: byStatus(outage.filter((x) => onStopped.includes(x.click)).map((x) => x.a)),
      outage_on_other_worker: byStatus(outage.filter((x) => !onStopped.includes(x.click)).map((x) => x.a)),
      worker_down_ms: startedMs,
      first_ok_on_restarted_worker_ms: recoveredMs,
    };
    report('citus-worker-stop', figures);

    // Only 200 or 503 (with Retry-After): never a 500, never no answer.
    for (const a of all) {
      expect([200, 503]).toContain(a.status);
      if (a.status === 503) expect(a.retryAfter).toBeTruthy();
    }
    // The other worker's conversions went on during the outage; only the stopped worker's failed.
    expect(outage.filter((x) => !onStopped.includes(x.click) && x.a.status === 200).length).toBeGreaterThan(0);
    expect(outage.filter((x) => !onStopped.includes(x.click) && x.a.status === 503)).toEqual([]);
    expect(outage.filter((x) => onStopped.includes(x.click) && x.a.status === 503).length).toBeGreaterThan(0);
    // Resumed once the worker was back.
    expect(recoveredMs).not.toBeNull();
    // Nothing acknowledged is lost, nothing written twice.
    const rows = await rowsPerKey(URL_!, s.partnerId);
    for (const x of sent) {
      if (x.a.status === 200 && x.a.body?.status === 'ok') {
        expect(rows.get(`${x.key}|${x.click}|purchase_completed`)).toBe(1);
      }
    }
    for (const v of rows.values()) expect(v).toBe(1);
  });
});
