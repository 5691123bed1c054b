/*
 * Fault-test harness: spawns the compiled service (`node dist/src/main.js`, built by `npm run build`)
 * against a fresh PostgreSQL database, on loopback only, and drives it over HTTP.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';

export const ADMIN_KEY = 'fault-admin-key-0123456789abcdefghijklmnop';
export const BASE_URL = process.env.TEST_DATABASE_URL || undefined;
const MAIN = resolve(__dirname, '../../dist/src/main.js');

function withDb(url: string, db: string): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

/** Drops and creates `<base database>_fault_<name>`; returns its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const base = new URL(BASE_URL!);
  const db = `${base.pathname.slice(1)}_fault_${name}`;
  const admin = new Client({ connectionString: withDb(BASE_URL!, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE "${db}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [db]);
    await admin.query(`DROP DATABASE IF EXISTS "${db}"`);
    await admin.query(`CREATE DATABASE "${db}"`);
  } finally {
    await admin.end();
  }
  return withDb(BASE_URL!, db);
}

export async function dropDatabase(url: string): Promise<void> {
  const db = new URL(url).pathname.slice(1);
  const admin = new Client({ connectionString: withDb(BASE_URL!, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE "${db}" ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [db]);
    await admin.query(`DROP DATABASE IF EXISTS "${db}"`);
  } finally {
    await admin.end();
  }
}

/** A SQL client on the admin database (for ALTER DATABASE / pg_terminate_backend). */
export async function adminClient(): Promise<Client> {
  const c = new Client({ connectionString: withDb(BASE_URL!, 'postgres') });
  await c.connect();
  return c;
}

export async function dbClient(url: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  await c.connect();
  return c;
}

export interface Service {
  port: number;
  url: string;
  proc: ChildProcess;
  logFile: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log(): string;
}

/** Starts the compiled service and waits until /health answers 200. */
export async function startService(
  port: number,
  databaseUrl: string,
  env: Record<string, string> = {},
  waitMs = 30_000,
): Promise<Service> {
  const logFile = join(tmpdir(), `thrad-fault-${port}-${randomUUID().slice(0, 6)}.log`);
  const fd = openSync(logFile, 'a');
  const proc = spawn(process.execPath, [MAIN], {
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: databaseUrl,
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      CLICK_SIGNING_SECRET: 'fault-tests-click-signing-secret-0123456789',
      LINK_SIGNING_SECRET: 'fault-tests-link-signing-secret-0123456789',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  const svc: Service = { port, url, proc, logFile, exited, log: () => readFileSync(logFile, 'utf8') };
  const deadline = Date.now() + waitMs;
  let dead = false;
  void exited.then(() => (dead = true));
  while (Date.now() < deadline && !dead) {
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return svc;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  proc.kill('SIGKILL');
  throw new Error(`service on ${port} did not become healthy:\n${svc.log().slice(-3000)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Answer {
  /** HTTP status, or 0 when no answer came (connection refused/reset, timeout). */
  status: number;
  body?: { status?: string; detail?: unknown; conversion_id?: string };
  ms: number;
  at: number;
  retryAfter?: string | null;
}

export async function call(
  url: string,
  method: string,
  path: string,
  opts: { key?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Answer> {
  const t0 = Date.now();
  try {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const r = await fetch(url + path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 20_000),
    });
    const text = await r.text();
    let body: Answer['body'];
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: r.status, body, ms: Date.now() - t0, at: Date.now(), retryAfter: r.headers.get('retry-after') };
  } catch {
    return { status: 0, ms: Date.now() - t0, at: Date.now() };
  }
}

export interface Setup {
  partnerId: string;
  partnerKey: string;
  clicks: string[];
}

/** A partner, its tag, a partner key and `n` clicks with bids, made through the API. */
export async function setupPartner(url: string, nClicks: number): Promise<Setup> {
  const ok = (a: Answer, what: string) => {
    if (a.status !== 201) throw new Error(`${what}: ${a.status} ${JSON.stringify(a.body)}`);
    return a.body as Record<string, string>;
  };
  const p = ok(await call(url, 'POST', '/admin/partners', { key: ADMIN_KEY, body: { name: 'fault' } }), 'partner');
  const t = ok(
    await call(url, 'POST', `/admin/partners/${p.id}/tags`, { key: ADMIN_KEY, body: { name: 'main' } }),
    'tag',
  );
  const pk = ok(
    await call(url, 'POST', '/admin/keys', { key: ADMIN_KEY, body: { role: 'partner', partner_id: p.id } }),
    'partner key',
  );
  const ik = ok(await call(url, 'POST', '/admin/keys', { key: ADMIN_KEY, body: { role: 'ingest' } }), 'ingest key');
  const clicks: string[] = [];
  for (let i = 0; i < nClicks; i++) {
    const c = ok(
      await call(url, 'POST', '/api/clicks', {
        key: ik.key,
        body: { tag_id: t.id, click_id: `clk_${randomUUID()}`, bid_id: `bid_${i}` },
      }),
      'click',
    );
    clicks.push(c.click_id);
  }
  return { partnerId: p.id, partnerKey: pk.key, clicks };
}

export function conversion(clickId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    click_id: clickId,
    conversion_time: '2026-05-26T12:34:56Z',
    conversion_value: 10,
    currency: 'USD',
    ...extra,
  };
}

/** Counts answers by status (0 = no answer). */
export function byStatus(answers: Answer[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of answers) {
    const k = a.status === 0 ? 'no_answer' : String(a.status);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

/** Rows per dedup key for a partner, from the database itself. */
export async function rowsPerKey(databaseUrl: string, partnerId: string): Promise<Map<string, number>> {
  const c = await dbClient(databaseUrl);
  try {
    const r = await c.query<{ k: string; n: string }>(
      `SELECT dedup_key || '|' || click_id || '|' || event_type AS k, count(*) AS n FROM conversions WHERE partner_id = $1 GROUP BY 1`,
      [partnerId],
    );
    return new Map(r.rows.map((x) => [x.k, Number(x.n)]));
  } finally {
    await c.end();
  }
}

/** Prints one test's figures where CI logs show them. */
export function report(name: string, figures: Record<string, unknown>): void {
  process.stdout.write(`\nFAULT ${name}: ${JSON.stringify(figures)}\n`);
}
