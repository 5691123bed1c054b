#!/usr/bin/env node
/*
 * Throughput benchmark of POST /api/conversion.
 *
 *   npm run bench                          # PostgreSQL (fresh database thrad_bench), 4 scenarios, 10 s each
 *   npm run bench -- --sqlite              # the embedded default (SQLite in a temp file)
 *   npm run bench -- --citus               # PostgreSQL, then the local Citus cluster (../shared/tools/citus-cluster), side by side
 *   npm run bench -- --runs 3              # three fresh runs, the median is the figure to quote
 *   npm run bench -- --no-build --duration 5 --scenarios 1,3
 *   npm run bench -- --scenarios 5 --recording-ab --runs 3   # refused attempts: recording on vs off (A/B)
 *   npm run bench -- --rebalance --scenarios 1 --duration 60  # Citus only: scenario 1 again while shards move
 *
 * Options: --sqlite, --no-build, --runs N (1), --duration S (10), --warmup S (2), --connections N (50),
 * --clicks N (10000), --port P (3500), --scenarios 1,2,3,4, --batch-size N (100), --batch-connections N (8)
 * (scenario 4: POST /api/conversions/batch; its figure is conversions per second), --pg-url URL (postgres://postgres@127.0.0.1:5432,
 * or BENCH_PG_URL), --pg-db NAME (thrad_bench), --env K=V (passed to the service; repeatable),
 * --node-arg ARG (passed to the service's node, e.g. --cpu-prof; repeatable), --main FILE (another
 * build of the service to run instead of dist/src/main.js, for A/B comparisons; implies --no-build),
 * --no-save (do not write bench/results/), --no-adversarial (skip the adversarial step), --recording-ab (each
 * run twice, ATTEMPTS_RECORDING=on and off, alternating which goes first; prints the cost of recording refused
 * attempts), --webhook (register one webhook endpoint, to a receiver in this process, before the scenarios),
 * --webhook-ab (each run twice, with and without that endpoint, alternating which goes first; prints the cost
 * of the outbox write and the deliveries: `npm run bench -- --scenarios 1 --webhook-ab --runs 3`). Scenario 5 sends 20% of its requests with unknown click ids (answered 404 and, with recording on,
 * kept in conversion_attempts; those 404s are expected and do not fail the run).
 *
 * After the scenarios, a short adversarial step sends the corpus of bench/adversarial-corpus.js
 * (long digit runs, deep nesting, many keys, invalid UTF-8, NULs, out-of-range times) to every route
 * of the service's own OpenAPI document, one request at a time, and prints the worst answer time per
 * route (a bound on how long one request can hold the event loop) and any 5xx.
 *
 * Each run: a fresh database, the compiled service (`node dist/src/main.js`) as its own process, a
 * partner, tag, partner key, ingest key and N clicks made through the public API; then autocannon,
 * in this process, drives each scenario. Every response body is counted (ok / duplicate / other)
 * and afterwards the database is checked against them: one row per dedup key at most, a row for
 * every `ok` with the conversion id that was answered, and no row that nobody was answered `ok`
 * for, except requests still in flight when the load generator stopped (their answer was never
 * read; the count is reported).
 */
'use strict';

const { spawn, execSync } = require('node:child_process');
const { randomBytes, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const autocannon = require('autocannon');
const { citusDatabase } = require('./citus.js');

const ROOT = path.resolve(__dirname, '..');
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

function parseArgs(argv) {
  const o = {
    sqlite: false,
    build: true,
    runs: 1,
    duration: 10,
    warmup: 2,
    connections: 50,
    clicks: 10_000,
    port: 3500,
    scenarios: [1, 2, 3, 4, 5],
    batchSize: 100,
    batchConnections: 8,
    recordingAb: false,
    webhook: false,
    webhookAb: false,
    pgUrl: process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432',
    pgDb: 'thrad_bench',
    env: {},
    nodeArgs: [],
    main: null,
    save: true,
    adversarial: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(next());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
      return n;
    };
    if (a === '--sqlite') o.sqlite = true;
    else if (a === '--citus') o.citus = true;
    else if (a === '--rebalance') o.rebalance = o.citus = true;
    else if (a === '--no-build') o.build = false;
    else if (a === '--no-save') o.save = false;
    else if (a === '--no-adversarial') o.adversarial = false;
    else if (a === '--recording-ab') o.recordingAb = true;
    else if (a === '--webhook') o.webhook = true;
    else if (a === '--webhook-ab') o.webhookAb = true;
    else if (a === '--runs') o.runs = num();
    else if (a === '--duration') o.duration = num();
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--connections') o.connections = num();
    else if (a === '--clicks') o.clicks = num();
    else if (a === '--port') o.port = num();
    else if (a === '--scenarios') o.scenarios = next().split(',').map(Number);
    else if (a === '--batch-size') o.batchSize = num();
    else if (a === '--batch-connections') o.batchConnections = num();
    else if (a === '--pg-url') o.pgUrl = next();
    else if (a === '--pg-db') o.pgDb = next();
    else if (a === '--node-arg') o.nodeArgs.push(next());
    else if (a === '--main') o.main = path.resolve(next());
    else if (a === '--env') {
      const [k, ...v] = next().split('=');
      o.env[k] = v.join('=');
    } else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(2, 25).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!/^[a-z_][a-z0-9_]*$/.test(o.pgDb)) throw new Error('--pg-db must be a plain lower-case identifier');
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the database

async function pgAdmin(opts, sql) {
  const { Client } = require('pg');
  const c = new Client({ connectionString: `${opts.pgUrl}/postgres` });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function freshDatabase(opts) {
  if (opts.citusRun) {
    // A fresh distributed database on every node; its coordinator URL is all the service gets.
    const url = citusDatabase(`${opts.pgDb}_citus`);
    const u = new URL(url);
    const nodes = [0, 1, 2].map((i) => {
      const n = new URL(url);
      n.port = String(Number(u.port) + i);
      return n.toString();
    });
    return { kind: 'postgres', citus: true, url, nodes, env: { DATABASE_URL: url } };
  }
  if (opts.sqlite) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thrad-bench-'));
    return {
      kind: 'sqlite',
      file: path.join(dir, 'bench.sqlite'),
      dir,
      env: { SQLITE_PATH: path.join(dir, 'bench.sqlite') },
    };
  }
  await pgAdmin(opts, `DROP DATABASE IF EXISTS ${opts.pgDb} WITH (FORCE)`);
  await pgAdmin(opts, `CREATE DATABASE ${opts.pgDb}`);
  const url = `${opts.pgUrl}/${opts.pgDb}`;
  return { kind: 'postgres', url, env: { DATABASE_URL: url } };
}

async function dropDatabase(opts, db) {
  if (db.citus) {
    const { Client } = require('pg');
    for (const n of db.nodes) {
      const u = new URL(n);
      const name = u.pathname.slice(1);
      u.pathname = '/postgres';
      const c = new Client({ connectionString: u.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => c.end());
    }
    return;
  }
  if (db.kind === 'sqlite') fs.rmSync(db.dir, { recursive: true, force: true });
  else await pgAdmin(opts, `DROP DATABASE IF EXISTS ${opts.pgDb} WITH (FORCE)`);
}

/** How many webhook messages the outbox holds (every one produced in this run's database). */
async function webhookMessagesProduced(db) {
  const sql = 'SELECT COUNT(*) AS n FROM webhook_messages';
  if (db.kind === 'sqlite') {
    const Database = require('better-sqlite3');
    const d = new Database(db.file, { readonly: true, fileMustExist: true });
    try {
      return Number(d.prepare(sql).get().n);
    } finally {
      d.close();
    }
  }
  const { Client } = require('pg');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    return Number((await c.query(sql)).rows[0].n);
  } finally {
    await c.end();
  }
}

/** Rows whose dedup key starts with `prefix`: [{ dedup_key, id }]. */
async function rowsWithKeyPrefix(db, prefix) {
  if (db.kind === 'sqlite') {
    const Database = require('better-sqlite3');
    const d = new Database(db.file, { readonly: true, fileMustExist: true });
    try {
      return d.prepare('SELECT dedup_key, id FROM conversions WHERE dedup_key LIKE ?').all(`${prefix}%`);
    } finally {
      d.close();
    }
  }
  const { Client } = require('pg');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query('SELECT dedup_key, id FROM conversions WHERE dedup_key LIKE $1', [`${prefix}%`])).rows;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- the service

function build() {
  console.log('building (npm run build)…');
  execSync('npm run build --silent', { cwd: ROOT, stdio: 'inherit' });
}

/** The NODE_OPTIONS the production image runs the service with (its heap bound), from the Dockerfile. */
function productionNodeOptions() {
  const m = /^\s*NODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));
  return m ? (m[1] ?? m[2]) : '';
}

async function startService(opts, db) {
  const main = opts.main ?? path.join(ROOT, 'dist/src/main.js');
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: run without --no-build`);
  const logFile = path.join(os.tmpdir(), `thrad-bench-service-${process.pid}.log`);
  const log = fs.openSync(logFile, 'w');
  const env = {
    ...process.env,
    NODE_ENV: 'production',
    // As in the production image (the Dockerfile's NODE_OPTIONS: the heap bound); --env NODE_OPTIONS= overrides.
    NODE_OPTIONS: productionNodeOptions(),
    PORT: String(opts.port),
    HOST: '127.0.0.1',
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    // Production requires the click- and link-signing secrets; the bench's are throwaway.
    CLICK_SIGNING_SECRET: randomBytes(36).toString('base64'),
    LINK_SIGNING_SECRET: randomBytes(36).toString('base64'),
    // The per-key rate limit (default 60,000/min) would cap the load this bench exists to measure.
    RATE_LIMIT_PER_MINUTE: '0',
    ...db.env,
    ...opts.env,
  };
  if (db.kind === 'sqlite') delete env.DATABASE_URL;
  const child = spawn(process.execPath, [...opts.nodeArgs, main], { cwd: ROOT, env, stdio: ['ignore', log, log] });
  // Never leave the service behind when the benchmark itself is interrupted.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  let exited = null;
  child.on('exit', (code, sig) => (exited = { code, sig }));
  const base = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited)
      throw new Error(
        `the service exited (${JSON.stringify(exited)}); its log: ${logFile}\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`,
      );
    try {
      const r = await fetch(`${base}/health`);
      if (r.status < 500) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`the service did not answer /health within 60 s; its log: ${logFile}`);
    await sleep(100);
  }
  return {
    child,
    base,
    logFile,
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

/** Peak resident memory of a process: VmHWM, reset per scenario through clear_refs where Linux allows. */
class RssProbe {
  constructor(pid) {
    this.pid = pid;
    this.max = 0;
  }
  status() {
    try {
      const s = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? 0);
      return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
    } catch {
      const rss = Number(execSync(`ps -o rss= -p ${this.pid}`).toString().trim()) * 1024;
      return { rss, hwm: 0 };
    }
  }
  start() {
    try {
      fs.writeFileSync(`/proc/${this.pid}/clear_refs`, '5'); // resets VmHWM to the current RSS
    } catch {
      /* not permitted: the polled maximum still counts */
    }
    this.max = this.status().rss;
    this.timer = setInterval(() => (this.max = Math.max(this.max, this.status().rss)), 50);
  }
  stop() {
    clearInterval(this.timer);
    const s = this.status();
    return Math.max(this.max, s.rss, s.hwm);
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/** PIDs of the PostgreSQL backends serving the bench database (on one node of a Citus cluster: `url`). */
async function pgBackendPids(db, url = db.url) {
  if (db.kind !== 'postgres') return [];
  const { Client } = require('pg');
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    return r.rows.map((x) => x.pid);
  } finally {
    await c.end();
  }
}

/** Transactions committed and rolled back so far in the bench database on one node (pg_stat_database). */
async function pgXacts(url) {
  const { Client } = require('pg');
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query(
      'SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(r.rows[0].n);
  } finally {
    await c.end();
  }
}

/*
 * CPU time per request is far less sensitive to a busy machine than requests per second: it is
 * what each change really saves. Measured for the service process and for the PostgreSQL
 * backends of the bench database (WAL writer and other shared processes not included).
 */
class CpuProbe {
  constructor(pid, db) {
    this.pid = pid;
    this.db = db;
    // The database's nodes: one for PostgreSQL; on Citus the coordinator and each worker, apart
    // (the machine is shared by all three, so their sum is what one conversion costs the cluster).
    this.urls = db.kind !== 'postgres' ? [] : (db.nodes ?? [db.url]);
  }
  async start(countXacts = false) {
    const pids = await Promise.all(this.urls.map((u) => pgBackendPids(this.db, u)));
    this.xacts0 = countXacts ? await Promise.all(this.urls.map(pgXacts)) : null;
    this.xactT0 = Date.now();
    this.listings = 0;
    this.svc0 = cpuSeconds(this.pid);
    // A backend can exit during the run (the pool closes connections idle for 10 s; a Citus
    // coordinator closes the worker connections it does not cache): its CPU is read every 200 ms
    // and its last reading kept, so it neither vanishes nor counts negative. A backend born
    // during the run starts from 0.
    this.per = pids.map((ps) => {
      const first = new Map(ps.map((p) => [p, cpuSeconds(p)]));
      return { first, last: new Map(first), seen: new Set(ps) };
    });
    const sample = () => {
      for (const n of this.per) {
        for (const p of n.seen) {
          const s = cpuSeconds(p);
          if (s > 0) n.last.set(p, s);
        }
      }
    };
    let listing = false;
    let tick = 0;
    this.pgTimer = setInterval(() => {
      sample();
      // New backends are listed once a second per node (each listing is a connection of its own).
      if (listing || !this.urls.length || tick++ % 5 !== 0) return;
      listing = true;
      this.listings++;
      Promise.all(
        this.urls.map((u, i) => pgBackendPids(this.db, u).then((ps) => ps.forEach((p) => this.per[i].seen.add(p)))),
      )
        .catch(() => {})
        .finally(() => (listing = false));
    }, 200);
    this.pgSample = sample;
    this.lg0 = process.cpuUsage();
    this.machine0 = machineTicks();
  }
  async stop() {
    const svc = cpuSeconds(this.pid) - this.svc0;
    clearInterval(this.pgTimer);
    const now = await Promise.all(this.urls.map((u) => pgBackendPids(this.db, u).catch(() => [])));
    now.forEach((ps, i) => ps.forEach((p) => this.per[i].seen.add(p)));
    this.pgSample();
    const used = this.per.map((n) => {
      let t = 0;
      for (const p of n.seen) t += Math.max(0, (n.last.get(p) ?? 0) - (n.first.get(p) ?? 0));
      return t;
    });
    const pg = used.reduce((a, b) => a + b, 0);
    const nodes = this.db.nodes
      ? Object.fromEntries(used.map((t, i) => [i === 0 ? 'coordinator' : `worker ${i}`, t]))
      : null;
    const lg = process.cpuUsage(this.lg0);
    const m = machineTicks();
    const all = m.total - this.machine0.total;
    let xacts = null;
    if (this.xacts0) {
      // Backends report their counts at most once a second, an idle one within 10 s: wait that out
      // (the next scenario's start reads after the same wait).
      await sleep(11_000);
      const x = await Promise.all(this.urls.map(pgXacts));
      // Less what the node does without load (the service's pollers, Citus's maintenance daemon:
      // the run's idle rate, see xactBaseline) and this probe's own listings and reads (one each).
      const secs = (Date.now() - this.xactT0) / 1000;
      const idle = this.db.xactIdlePerS ?? this.urls.map(() => 0);
      xacts = Object.fromEntries(
        x.map((n, i) => [
          this.db.nodes ? (i === 0 ? 'coordinator' : `worker ${i}`) : 'postgres',
          n - this.xacts0[i] - idle[i] * secs - this.listings - 2,
        ]),
      );
    }
    return {
      xacts,
      service_s: svc,
      pg_backends_s: this.db.kind === 'postgres' ? pg : null,
      pg_nodes_s: nodes,
      // The load generator runs in this process, on the same two cores: its share is not the service's.
      loadgen_s: (lg.user + lg.system) / 1e6,
      machine_idle: all > 0 ? (m.idle - this.machine0.idle) / all : null,
    };
  }
}

/** All CPUs' ticks from /proc/stat: total and idle (idle + iowait). */
function machineTicks() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4] };
  } catch {
    return { total: 0, idle: 0 };
  }
}

// ---------------------------------------------------------------- fixtures through the public API

async function api(base, method, url, key, body) {
  const r = await fetch(base + url, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${url} answered ${r.status}: ${text}`);
  return JSON.parse(text);
}

async function makeFixtures(base, nClicks) {
  const partner = await api(base, 'POST', '/admin/partners', ADMIN_KEY, { name: `bench-${randomUUID().slice(0, 8)}` });
  const tag = await api(base, 'POST', `/admin/partners/${partner.id}/tags`, ADMIN_KEY, {
    name: 'main',
    allowed_origins: ['https://shop.example.com'],
  });
  const partnerKey = (await api(base, 'POST', '/admin/keys', ADMIN_KEY, { role: 'partner', partner_id: partner.id }))
    .key;
  const ingestKey = (await api(base, 'POST', '/admin/keys', ADMIN_KEY, { role: 'ingest' })).key;
  const clicks = new Array(nClicks);
  let next = 0;
  const worker = async () => {
    while (next < nClicks) {
      const i = next++;
      const c = await api(base, 'POST', '/api/clicks', ingestKey, {
        tag_id: tag.id,
        click_id: `clk_bench_${i}`,
        bid_id: `bid_${i}`,
      });
      clicks[i] = c.click_id;
    }
  };
  await Promise.all(Array.from({ length: 20 }, worker));
  return { partnerId: partner.id, tagId: tag.id, partnerKey, ingestKey, clicks };
}

// ---------------------------------------------------------------- the scenarios

const SCENARIOS = {
  1: 'every request a new conversion (unique order_id)',
  2: 'half of the requests retries of earlier ones',
  3: `all connections on one Idempotency-Key`,
  4: 'POST /api/conversions/batch, every item new',
  5: '20% refused (unknown click ids, 404)',
};

/** Counts every answer per dedup key, so the database can be checked against them afterwards. */
class Tally {
  constructor() {
    this.ok = new Map(); // key -> conversion_id answered ok
    this.okCount = 0;
    this.duplicates = 0;
    this.dupMismatch = 0; // a duplicate naming a different conversion than the ok of its key
    this.other = {}; // status -> count
    this.otherSamples = [];
    this.inflight = new Map(); // key -> requests sent but not (yet) answered
    this.sent = 0;
  }
  sentKey(key) {
    this.sent++;
    this.inflight.set(key, (this.inflight.get(key) ?? 0) + 1);
  }
  answered(key, status, body) {
    let parsed;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    this.answeredParsed(key, status, parsed, body);
  }
  /** One answer already parsed (a batch item's result counts as a 200 with that body). */
  answeredParsed(key, status, parsed, body) {
    const n = this.inflight.get(key) - 1;
    if (n) this.inflight.set(key, n);
    else this.inflight.delete(key);
    if (status === 200 && parsed?.status === 'ok') {
      this.okCount++;
      if (this.ok.has(key)) this.ok.set(key, `MORE THAN ONE OK: ${this.ok.get(key)}, ${parsed.conversion_id}`);
      else this.ok.set(key, parsed.conversion_id);
    } else if (status === 200 && parsed?.status === 'duplicate') {
      this.duplicates++;
      const okId = this.ok.get(key);
      if (okId !== undefined && okId !== parsed.conversion_id) this.dupMismatch++;
    } else {
      this.other[status] = (this.other[status] ?? 0) + 1;
      if (this.otherSamples.length < 5) this.otherSamples.push({ status, body: String(body).slice(0, 300) });
    }
  }
}

/**
 * Scenario 4: batches of `opts.batchSize` new conversions (unique order_id; every other item also
 * carries it as its idempotency_key). Every item's result is tallied under its key like a single
 * answer; a whole-request failure counts against every item of the batch.
 */
function batchRequest(opts, prefix, fx, tally) {
  let seq = 0;
  const conversionTime = afterTheClicks();
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${fx.partnerKey}` };
  return {
    method: 'POST',
    path: '/api/conversions/batch',
    setupRequest(req, context) {
      const keys = [];
      const conversions = [];
      for (let j = 0; j < opts.batchSize; j++) {
        const i = seq++;
        const key = `${prefix}${i}`;
        keys.push(key);
        tally.sentKey(key);
        conversions.push({
          click_id: fx.clicks[i % fx.clicks.length],
          conversion_time: conversionTime,
          conversion_value: 99.99,
          currency: 'USD',
          order_id: key,
          event_type: 'purchase_completed',
          ...(i % 2 ? { idempotency_key: key } : {}),
        });
      }
      context.keys = keys;
      return { ...req, headers, body: JSON.stringify({ conversions }) };
    },
    onResponse(status, body, context) {
      let parsed;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const results = status === 200 && Array.isArray(parsed?.results) ? parsed.results : null;
      context.keys.forEach((key, j) => {
        const r = results?.[j];
        if (r && r.index === j && r.status !== 'rejected') tally.answeredParsed(key, 200, r, body);
        else tally.answeredParsed(key, r ? (r.error?.status ?? 0) : status, r, r ? JSON.stringify(r) : body);
      });
    },
  };
}

/**
 * A conversion time after every click of the fixture (they were registered before the scenario
 * starts), so conversions pass the attribution-time checks as real traffic does; a fixed past time
 * drew a `precedes_click` warning on every conversion.
 */
function afterTheClicks() {
  return new Date().toISOString();
}

function scenarioRequest(n, prefix, fx, tally) {
  let seq = 0;
  const conversionTime = afterTheClicks();
  const okKeys = []; // keys answered ok, for retries (scenario 2)
  const bodyFor = (key, click) =>
    JSON.stringify({
      click_id: click,
      conversion_time: conversionTime,
      conversion_value: 99.99,
      currency: 'USD',
      order_id: key,
      event_type: 'purchase_completed',
    });
  const oneKey = `${prefix}one`;
  const oneClick = fx.clicks[0];
  return {
    method: 'POST',
    path: '/api/conversion',
    setupRequest(req, context) {
      const i = seq++;
      let key;
      let click;
      let headers = { 'content-type': 'application/json', authorization: `Bearer ${fx.partnerKey}` };
      if (n === 3) {
        key = oneKey;
        click = oneClick;
        headers = { ...headers, 'idempotency-key': oneKey };
      } else if (n === 2 && i % 2 === 1 && okKeys.length > 0) {
        const k = okKeys[Math.floor(Math.random() * okKeys.length)];
        key = k.key;
        click = k.click;
      } else if (n === 5 && i % 5 === 0) {
        key = `${prefix}${i}`;
        click = `clk_unknown_${prefix}${i}`;
      } else {
        key = `${prefix}${i}`;
        click = fx.clicks[i % fx.clicks.length];
      }
      context.key = key;
      context.click = click;
      tally.sentKey(key);
      return { ...req, headers, body: bodyFor(key, click) };
    },
    onResponse(status, body, context) {
      tally.answered(context.key, status, body);
      if (n === 2 && status === 200 && okKeys.length < 100_000 && body.includes('"ok"'))
        okKeys.push({ key: context.key, click: context.click });
    },
  };
}

function runAutocannon(opts, base, request, duration, connections = opts.connections) {
  return new Promise((resolve, reject) => {
    autocannon({ url: base, connections, pipelining: 1, duration, timeout: 10, requests: [request] }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function verify(db, prefix, tally, n) {
  const rows = await rowsWithKeyPrefix(db, prefix);
  const byKey = new Map();
  const problems = [];
  for (const r of rows) {
    if (byKey.has(r.dedup_key)) problems.push(`two rows for dedup key ${r.dedup_key}`);
    byKey.set(r.dedup_key, r.id);
  }
  for (const [key, id] of tally.ok) {
    if (!byKey.has(key)) problems.push(`answered ok but no row: ${key}`);
    else if (byKey.get(key) !== id) problems.push(`answered ok with ${id} but the row is ${byKey.get(key)} (${key})`);
  }
  let committedInFlight = 0;
  for (const key of byKey.keys()) {
    if (tally.ok.has(key)) continue;
    if (tally.inflight.has(key)) committedInFlight++;
    else problems.push(`a row nobody was answered ok for: ${key}`);
  }
  if (tally.dupMismatch)
    problems.push(`${tally.dupMismatch} duplicates named another conversion than the ok of their key`);
  if (n === 3 && rows.length !== 1) problems.push(`one idempotency key but ${rows.length} rows`);
  if (problems.length > 10) problems.splice(10, problems.length, `… and more`);
  return {
    rows: rows.length,
    ok_answers: tally.okCount,
    committed_in_flight: committedInFlight,
    ok: problems.length === 0,
    problems,
  };
}

/**
 * Transactions per second on each node of the bench database with the service up and no load (its
 * pollers, Citus's maintenance daemon), subtracted from the per-conversion counts. Waits 11 s first
 * so that the warm-up's counts are reported, then counts over 10 s.
 */
async function xactBaseline(db) {
  const urls = db.nodes ?? [db.url];
  await sleep(11_000);
  const x0 = await Promise.all(urls.map(pgXacts));
  await sleep(10_000);
  const x1 = await Promise.all(urls.map(pgXacts));
  return x1.map((n, i) => Math.max(0, (n - x0[i] - 1) / 10));
}

/** CPU microseconds per conversion: the service, all database backends, and (Citus) each node. */
function perConversion(used, conversions) {
  const us = (secs) => Math.round((secs * 1e6) / Math.max(1, conversions));
  return {
    service: us(used.service_s),
    pg: used.pg_backends_s === null ? null : us(used.pg_backends_s),
    nodes: used.pg_nodes_s ? Object.fromEntries(Object.entries(used.pg_nodes_s).map(([k, v]) => [k, us(v)])) : null,
  };
}

async function runOnce(opts, runNo) {
  const db = await freshDatabase(opts);
  const svc = await startService(opts, db);
  try {
    const t0 = Date.now();
    const fx = await makeFixtures(svc.base, opts.clicks);
    console.log(
      `  run ${runNo}: service pid ${svc.child.pid}, ${fx.clicks.length} clicks made through the API in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
    if (opts.webhook) {
      webhookReceiver.ids.clear();
      await api(svc.base, 'POST', `/admin/partners/${fx.partnerId}/webhooks`, ADMIN_KEY, {
        url: webhookReceiver.url,
        events: ['conversion.created'],
      });
    }
    const receivedBefore = webhookReceiver.received;
    if (opts.warmup > 0) {
      const warm = new Tally();
      await runAutocannon(opts, svc.base, scenarioRequest(1, `w${runNo}-`, fx, warm), opts.warmup);
    }
    if (opts.citus) {
      db.xactIdlePerS = await xactBaseline(db);
      console.log(
        `    idle transactions/s per node (subtracted): ${db.xactIdlePerS.map((v) => v.toFixed(1)).join(', ')}`,
      );
    }
    const results = {};
    for (const n of opts.scenarios) {
      const prefix = `s${n}r${runNo}-`;
      const tally = new Tally();
      const rss = new RssProbe(svc.child.pid);
      const cpu = new CpuProbe(svc.child.pid, db);
      await cpu.start(opts.citus);
      rss.start();
      const res =
        n === 4
          ? await runAutocannon(
              opts,
              svc.base,
              batchRequest(opts, prefix, fx, tally),
              opts.duration,
              opts.batchConnections,
            )
          : await runAutocannon(opts, svc.base, scenarioRequest(n, prefix, fx, tally), opts.duration);
      const peak = rss.stop();
      const used = await cpu.stop();
      const answered = Math.max(1, res.requests.total);
      await sleep(200); // let the requests the load generator abandoned finish on the server
      const check = await verify(db, prefix, tally, n);
      results[n] = {
        scenario: SCENARIOS[n],
        requests: res.requests.total,
        req_per_s: Math.round(res.requests.total / (res.duration || opts.duration)),
        // Conversions answered per second (for the batch scenario, items; otherwise = req/s).
        conversions_per_s: Math.round((tally.okCount + tally.duplicates) / (res.duration || opts.duration)),
        connections: n === 4 ? opts.batchConnections : opts.connections,
        latency_ms: { p50: res.latency.p50, p90: res.latency.p90, p99: res.latency.p99, max: res.latency.max },
        non_2xx: res.non2xx,
        errors: res.errors,
        timeouts: res.timeouts,
        ok: tally.okCount,
        duplicate: tally.duplicates,
        other_statuses: tally.other,
        expected_refused: n === 5 ? (tally.other[404] ?? 0) : 0,
        other_samples: tally.otherSamples,
        peak_rss_mb: Math.round((peak / 1048576) * 10) / 10,
        cpu_us_per_request: {
          service: Math.round((used.service_s * 1e6) / answered),
          pg_backends: used.pg_backends_s === null ? null : Math.round((used.pg_backends_s * 1e6) / answered),
          // Citus: per node (port), coordinator first.
          pg_nodes: used.pg_nodes_s
            ? Object.fromEntries(Object.entries(used.pg_nodes_s).map(([k, v]) => [k, Math.round((v * 1e6) / answered)]))
            : null,
          load_generator: Math.round((used.loadgen_s * 1e6) / answered),
        },
        // The same CPU per conversion (scenario 4: per batch item; otherwise = per request).
        cpu_us_per_conversion: perConversion(used, n === 4 ? answered * opts.batchSize : answered),
        // --citus: database transactions per conversion on each node (pg_stat_database), the
        // round trips that end in a commit (the PostgreSQL side of the same run included).
        xacts_per_conversion: used.xacts
          ? Object.fromEntries(
              Object.entries(used.xacts).map(([k, v]) => [
                k,
                Math.round((v / Math.max(1, n === 4 ? answered * opts.batchSize : answered)) * 100) / 100,
              ]),
            )
          : null,
        machine_idle_pct: used.machine_idle === null ? null : Math.round(used.machine_idle * 1000) / 10,
        db_check: check,
      };
      printScenario(n, results[n]);
    }
    if (opts.webhook) {
      // Deliveries may lag behind the load (bounded dispatcher concurrency); after it they catch up.
      results.webhooks_received = webhookReceiver.received - receivedBefore;
      const produced = await webhookMessagesProduced(db);
      const t1 = Date.now();
      while (webhookReceiver.ids.size < produced && Date.now() - t1 < WEBHOOK_CATCH_UP_MS) await sleep(100);
      results.webhooks_produced = produced;
      results.webhooks_distinct_after_catch_up = webhookReceiver.ids.size;
      results.webhooks_catch_up_s = Math.round((Date.now() - t1) / 100) / 10;
      console.log(
        `  webhook messages: ${produced} produced (warm-up included), ${results.webhooks_received} received during the load, ` +
          `${webhookReceiver.ids.size} distinct received ${results.webhooks_catch_up_s} s after it` +
          (webhookReceiver.ids.size < produced ? ' (NOT CAUGHT UP)' : ''),
      );
    }
    if (opts.rebalance && opts.citusRun) results.rebalance = await rebalanceUnderLoad(opts, db, svc, fx, runNo);
    if (opts.adversarial) results.adversarial = await adversarialStep(svc.base, fx);
    return results;
  } finally {
    await svc.stop();
    await dropDatabase(opts, db);
  }
}

// ---------------------------------------------------------------- shard moves under load (--rebalance)

/**
 * Scenario 1 once more while shards move (Citus only): 3 s into the load, four shard groups of
 * `clicks` (each with its co-located conversions, dedup claims, adjustments and webhook tables)
 * move from worker 1 to worker 2 one by one (citus_move_shard_placement), then
 * citus_rebalance_start() spreads them back and citus_rebalance_wait() waits for it. The cluster
 * here runs with wal_level = replica, so the transfer mode is block_writes (the shard group's writes
 * wait for its copy); with wal_level = logical Citus would move by logical replication instead.
 * Every answer is checked against the database as in the scenarios (an `ok` written to a placement
 * that was moved away would show up as "answered ok but no row").
 */
async function rebalanceUnderLoad(opts, db, svc, fx, runNo) {
  const { Client } = require('pg');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  const steps = [];
  const timed = async (what, sql, params) => {
    const t0 = Date.now();
    const r = await c.query(sql, params);
    steps.push({ what, ms: Date.now() - t0 });
    console.log(`      [rebalance] ${what}: ${Date.now() - t0} ms`);
    return r;
  };
  let moverEnded = 0;
  const mover = async () => {
    await sleep(3000);
    const w1 = new URL(db.nodes[1]);
    const w2 = new URL(db.nodes[2]);
    const { rows } = await c.query(
      `SELECT s.shardid FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) JOIN pg_dist_node n USING (groupid)
        WHERE s.logicalrelid = 'clicks'::regclass AND n.nodeport = $1 ORDER BY s.shardid LIMIT 4`,
      [Number(w1.port)],
    );
    for (const { shardid } of rows) {
      await timed(
        `citus_move_shard_placement(${shardid}, worker 1 -> worker 2, block_writes)`,
        `SELECT citus_move_shard_placement($1, $2, $3, $4, $5, shard_transfer_mode => 'block_writes')`,
        [shardid, w1.hostname, Number(w1.port), w2.hostname, Number(w2.port)],
      );
    }
    const plan = await c.query(`SELECT count(*)::int AS n FROM get_rebalance_table_shards_plan()`);
    await timed(
      `citus_rebalance_start(block_writes) (${plan.rows[0].n} shard moves planned)`,
      `SELECT citus_rebalance_start(shard_transfer_mode => 'block_writes')`,
    );
    await timed('citus_rebalance_wait()', 'SELECT citus_rebalance_wait()');
    moverEnded = Date.now();
    const placed = await c.query(
      `SELECT n.nodeport AS port, count(*)::int AS shards FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
        JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = 'clicks'::regclass GROUP BY 1 ORDER BY 1`,
    );
    return placed.rows;
  };
  try {
    const prefix = `rb${runNo}-`;
    const tally = new Tally();
    const t0 = Date.now();
    const moving = mover();
    const res = await runAutocannon(opts, svc.base, scenarioRequest(1, prefix, fx, tally), opts.duration);
    const loadEnded = Date.now();
    const placement = await moving;
    const moverMs = moverEnded - t0 - 3000;
    await sleep(200);
    const check = await verify(db, prefix, tally, 1);
    const out = {
      requests: res.requests.total,
      req_per_s: Math.round(res.requests.total / (res.duration || opts.duration)),
      latency_ms: { p50: res.latency.p50, p90: res.latency.p90, p99: res.latency.p99, max: res.latency.max },
      non_2xx: res.non2xx,
      errors: res.errors,
      timeouts: res.timeouts,
      ok: tally.okCount,
      other_statuses: tally.other,
      other_samples: tally.otherSamples,
      steps,
      moves_ms_total: moverMs,
      moves_outlasted_load_by_ms: Math.max(0, t0 + 3000 + moverMs - loadEnded),
      placement_after: placement,
      db_check: check,
    };
    console.log(
      `    [rebalance] scenario 1 during the moves: ${out.req_per_s} req/s  p50 ${out.latency_ms.p50} ms  p99 ${out.latency_ms.p99} ms  max ${out.latency_ms.max} ms  ` +
        `non-2xx ${out.non_2xx} ${JSON.stringify(out.other_statuses)}  errors ${out.errors}  timeouts ${out.timeouts}  ok ${out.ok}; ` +
        `moves took ${(moverMs / 1000).toFixed(1)} s${out.moves_outlasted_load_by_ms ? ` (${(out.moves_outlasted_load_by_ms / 1000).toFixed(1)} s past the load: use a longer --duration)` : ''}; ` +
        `clicks shards after: ${placement.map((p) => `${p.port}: ${p.shards}`).join(', ')}; ` +
        `db: ${check.rows} rows for ${check.ok_answers} ok (+${check.committed_in_flight} in flight at stop) ${check.ok ? 'OK' : 'FAILED ' + check.problems.join('; ')}`,
    );
    if (out.other_samples.length) console.log(`      samples: ${JSON.stringify(out.other_samples)}`);
    return out;
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- the adversarial step

/** The corpus against every route of the service's OpenAPI document; the worst time per route. */
async function adversarialStep(base, fx) {
  const { STRINGS, VALUES, rawBodies, bodyWith } = require('./adversarial-corpus.js');
  const doc = await (await fetch(`${base}/docs-json`)).json();
  const click = await api(base, 'POST', '/api/clicks', fx.ingestKey, { tag_id: fx.tagId, bid_id: 'bid_adv' });
  const signed = { click_id: click.click_id, sig: click.sig, exp: click.exp };
  const keyFor = (p) =>
    p.startsWith('/admin') || p === '/metrics'
      ? ADMIN_KEY
      : p.startsWith('/api/conversion')
        ? fx.partnerKey
        : p.startsWith('/api/clicks')
          ? fx.ingestKey
          : undefined;
  const enc = (v) => {
    try {
      return encodeURIComponent(v);
    } catch {
      return encodeURIComponent(v.replace(/[\ud800-\udfff]/g, '')) + '%ED%A0%80';
    }
  };
  const fieldsOf = (schema) => {
    if (!schema) return [];
    if (schema.$ref) return fieldsOf(doc.components.schemas[schema.$ref.split('/').pop()]);
    return [...Object.keys(schema.properties ?? {}), ...(schema.allOf ?? []).flatMap(fieldsOf)];
  };
  const rows = [];
  const failures = [];
  const started = Date.now();
  for (const [route, byMethod] of Object.entries(doc.paths)) {
    for (const [m, op] of Object.entries(byMethod)) {
      const method = m.toUpperCase();
      const defaults = { partner_id: fx.partnerId, tag_id: fx.tagId, click_id: signed.click_id };
      const pathWith = (values = {}) => route.replace(/\{(\w+)\}/g, (_, n) => enc(values[n] ?? defaults[n] ?? 'x'));
      const params = op.parameters ?? [];
      const sends = [];
      for (const p of params) {
        for (const [what, v] of Object.entries(STRINGS)) {
          if (p.in === 'path') sends.push([`path ${p.name}=${what}`, pathWith({ [p.name]: v })]);
          if (p.in === 'query') sends.push([`query ${p.name}=${what}`, `${pathWith()}?${p.name}=${enc(v)}`]);
        }
      }
      const manyKeys = Array.from({ length: 10000 }, (_, i) => `k${i}=1`).join('&');
      sends.push(['query 10,000 keys', `${pathWith()}?${manyKeys}`]);
      const content = op.requestBody?.content;
      if (content && method !== 'DELETE' && method !== 'OPTIONS') {
        const baseBody = route === '/api/tag/conversion' ? signed : {};
        const fields = [...new Set(Object.values(content).flatMap((c) => fieldsOf(c.schema)))];
        for (const field of fields) {
          for (const [what, v] of Object.entries(STRINGS))
            sends.push([`body ${field}=${what}`, pathWith(), bodyWith(baseBody, field, JSON.stringify(v))]);
          for (const [what, text] of Object.entries(VALUES))
            sends.push([`body ${field}=${what}`, pathWith(), bodyWith(baseBody, field, text)]);
        }
        for (const [what, raw] of Object.entries(rawBodies(baseBody))) sends.push([`body ${what}`, pathWith(), raw]);
      }
      let worst = { ms: 0, what: '-', status: 0 };
      let fivexx = 0;
      for (const [what, url, body] of sends) {
        const key = keyFor(url.split('?')[0]);
        const t0 = performance.now();
        let status;
        try {
          const r = await fetch(base + url, {
            method,
            headers: {
              ...(key ? { authorization: `Bearer ${key}` } : {}),
              ...(body !== undefined ? { 'content-type': 'application/json', origin: 'https://shop.example.com' } : {}),
            },
            body,
          });
          await r.arrayBuffer();
          status = r.status;
        } catch {
          status = 0;
        }
        const ms = performance.now() - t0;
        if (status >= 500 || status === 0) {
          fivexx++;
          failures.push(`${method} ${route} ${what}: ${status || 'connection dropped'}`);
        }
        if (ms > worst.ms) worst = { ms, what, status };
      }
      rows.push({
        route: `${method} ${route}`,
        requests: sends.length,
        worst_ms: Math.round(worst.ms * 10) / 10,
        worst_input: worst.what,
        worst_status: worst.status,
        fivexx,
      });
    }
  }
  rows.sort((a, b) => b.worst_ms - a.worst_ms);
  console.log(
    `    [adversarial] ${rows.reduce((a, r) => a + r.requests, 0)} requests in ${((Date.now() - started) / 1000).toFixed(1)} s; worst answer time per route (a bound on event-loop blocking):`,
  );
  for (const r of rows) {
    console.log(
      `      ${String(r.worst_ms).padStart(7)} ms  ${String(r.worst_status).padStart(3)}  5xx ${r.fivexx}  ${r.route.padEnd(44)} ${r.worst_input}`,
    );
  }
  // Which inputs failed, so a 5xx can be reproduced, not only counted.
  for (const f of failures) console.error(`    [adversarial] 5xx or dropped: ${f}`);
  return rows;
}

function printScenario(n, r) {
  const c = r.db_check;
  console.log(
    `    [${n}] ${r.req_per_s.toString().padStart(6)} req/s  ${n === 4 ? `${r.conversions_per_s} conversions/s  ` : ''}p50 ${String(r.latency_ms.p50).padStart(3)} ms  p99 ${String(r.latency_ms.p99).padStart(3)} ms  ` +
      `non-2xx ${r.non_2xx}  errors ${r.errors}  ok ${r.ok}  dup ${r.duplicate}  peak RSS ${r.peak_rss_mb} MB  ` +
      `cpu/req ${r.cpu_us_per_request.service} us svc${r.cpu_us_per_request.pg_backends === null ? '' : ` + ${r.cpu_us_per_request.pg_backends} us pg`} + ${r.cpu_us_per_request.load_generator} us load gen, idle ${r.machine_idle_pct}%  ` +
      `db: ${c.rows} rows for ${c.ok_answers} ok (+${c.committed_in_flight} in flight at stop) ${c.ok ? 'OK' : 'FAILED ' + c.problems.join('; ')}` +
      (r.cpu_us_per_conversion.nodes
        ? `  cpu/conversion by node: ${Object.entries(r.cpu_us_per_conversion.nodes)
            .map(([k, v]) => `${k} ${v} us`)
            .join(', ')}`
        : ''),
  );
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The cost of keeping refused attempts: each run twice, recording on and off, alternating the order. */
/**
 * An A/B of two arms (each run `opts.runs` times, alternating which goes first): every scenario's
 * medians per arm, printed as a table, then `verdict(line)` (the arms' medians) under it. Answers
 * the runs by arm.
 */
async function abRuns(opts, title, column, arms, optsOf, verdict) {
  const by = Object.fromEntries(arms.map((a) => [a, []]));
  for (let i = 1; i <= opts.runs; i++) {
    for (const arm of i % 2 ? arms : [...arms].reverse()) {
      console.log(`  ${column}: ${arm}`);
      by[arm].push(await runOnce(optsOf(arm), i));
    }
  }
  console.log(`\n${title}, median of ${opts.runs} run(s) each:`);
  console.log(
    `  scenario                                     ${column.padStart(11)}   req/s   p50   p99  cpu us/req svc+pg  db check`,
  );
  let allOk = true;
  for (const n of opts.scenarios) {
    const line = {};
    for (const arm of arms) {
      const rs = by[arm].map((r) => r[n]);
      const ok = rs.every((r) => r.db_check.ok && r.errors === 0 && r.non_2xx === r.expected_refused);
      allOk &&= ok;
      line[arm] = {
        req_per_s: median(rs.map((r) => r.req_per_s)),
        p50: median(rs.map((r) => r.latency_ms.p50)),
        p99: median(rs.map((r) => r.latency_ms.p99)),
        cpu: median(rs.map((r) => r.cpu_us_per_request.service)),
        pg:
          rs[0].cpu_us_per_request.pg_backends === null
            ? null
            : median(rs.map((r) => r.cpu_us_per_request.pg_backends)),
      };
      const l = line[arm];
      console.log(
        `  ${n} ${SCENARIOS[n].padEnd(44)} ${arm.padStart(9)} ${String(l.req_per_s).padStart(7)} ${String(l.p50).padStart(5)} ${String(l.p99).padStart(5)}  ` +
          `${String(l.cpu).padStart(7)}+${l.pg ?? '-'}  ${ok ? 'ok' : 'FAILED'}`,
      );
    }
    console.log(`    ${verdict(line)}`);
  }
  if (!allOk) process.exitCode = 1;
  return by;
}

/** Refused attempts recorded vs not (ATTEMPTS_RECORDING on/off). */
async function recordingAb(opts) {
  await abRuns(
    opts,
    'recording A/B',
    'recording',
    ['on', 'off'],
    (mode) => ({ ...opts, env: { ...opts.env, ATTEMPTS_RECORDING: mode } }),
    (line) => {
      const cost = (line.off.req_per_s / line.on.req_per_s - 1) * 100;
      const cpuCost = (line.on.cpu / line.off.cpu - 1) * 100;
      return `cost of recording: ${cost.toFixed(1)}% throughput, ${cpuCost.toFixed(1)}% service CPU per request (target: at most 5%)`;
    },
  );
}

/** A webhook receiver in this process (--webhook, --webhook-ab): answers 204 at once, counts messages. */
const webhookReceiver = { url: null, received: 0, ids: new Set(), server: null };
/** How long a run waits, after the load, for the deliveries to catch up. */
const WEBHOOK_CATCH_UP_MS = 120_000;

async function startWebhookReceiver() {
  const http = require('node:http');
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      webhookReceiver.received++;
      webhookReceiver.ids.add(req.headers['webhook-id']);
      res.writeHead(204).end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  server.unref();
  webhookReceiver.server = server;
  webhookReceiver.url = `http://127.0.0.1:${server.address().port}/bench-hook`;
}

/** Throughput with one webhook endpoint registered vs none. */
async function webhookAb(opts) {
  const by = await abRuns(
    opts,
    'webhook A/B',
    'webhook',
    ['with', 'without'],
    (mode) => ({ ...opts, webhook: mode === 'with' }),
    (line) =>
      `with an endpoint: ${((line.with.req_per_s / line.without.req_per_s) * 100).toFixed(1)}% of the throughput without one (target: at least 90%)`,
  );
  const received = by.with.map(
    (r) =>
      `${r.webhooks_received} during the load, ${r.webhooks_distinct_after_catch_up}/${r.webhooks_produced} after ${r.webhooks_catch_up_s} s`,
  );
  console.log(`  webhook messages received per 'with' run: ${received.join('; ')}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.build && !opts.main) build();
  const driver = opts.sqlite ? 'sqlite' : 'postgres';
  console.log(
    `bench: ${driver}, ${opts.runs} run(s), ${opts.connections} connections, ${opts.duration} s per scenario, ${opts.clicks} clicks, ` +
      `node ${process.version}, ${os.cpus().length} cpus, service NODE_OPTIONS=${opts.env.NODE_OPTIONS ?? productionNodeOptions()}`,
  );
  if (opts.webhook || opts.webhookAb) {
    await startWebhookReceiver();
    // The receiver is on loopback; both arms run with the same setting.
    opts.env = { WEBHOOK_ALLOW_PRIVATE: 'true', ...opts.env };
  }
  if (opts.recordingAb) return recordingAb(opts);
  if (opts.webhookAb) return webhookAb(opts);
  if (opts.rebalance) {
    // Citus only: the scenarios, then scenario 1 again while shards move (see rebalanceUnderLoad).
    console.log('bench --rebalance: Citus only (coordinator 5440, workers 5441, 5442)');
    const cRuns = [];
    for (let i = 1; i <= opts.runs; i++) cRuns.push(await runOnce({ ...opts, citusRun: true }, i));
    const s = summarize(opts, cRuns, 'citus');
    const bad = cRuns.some((r) => !r.rebalance.db_check.ok);
    save(opts, 'citus-rebalance', cRuns, s.summary, null);
    if (!s.allOk || bad) process.exitCode = 1;
    return;
  }
  const runs = [];
  for (let i = 1; i <= opts.runs; i++) runs.push(await runOnce(opts, i));
  let allOk = true;
  const printed = summarize(opts, runs, driver);
  allOk &&= printed.allOk;
  let citus = null;
  if (opts.citus && !opts.sqlite) {
    // The same scenarios on the Citus cluster, in the same run (one coordinator, two workers, on this machine).
    console.log('\nbench: the same scenarios on the local Citus cluster (coordinator 5440, workers 5441, 5442)');
    const cRuns = [];
    for (let i = 1; i <= opts.runs; i++) cRuns.push(await runOnce({ ...opts, citusRun: true }, i));
    citus = { runs: cRuns, ...summarize(opts, cRuns, 'citus') };
    allOk &&= citus.allOk;
  }
  if (citus) sideBySide(opts, printed.summary, citus.summary);
  save(opts, driver, runs, printed.summary, citus);
  if (!allOk) {
    console.error('\nFAILED: non-2xx answers, errors, or the database does not match the answers (see above).');
    process.exitCode = 1;
  }
}

/** The median of each scenario's runs, printed as a table; whether every run passed. */
function summarize(opts, runs, driver) {
  const summary = {};
  let allOk = true;
  for (const n of opts.scenarios) {
    const rs = runs.map((r) => r[n]);
    const ok = rs.every((r) => r.db_check.ok);
    allOk &&= ok && rs.every((r) => r.non_2xx - r.expected_refused === 0 && r.errors === 0);
    summary[n] = {
      scenario: SCENARIOS[n],
      req_per_s: median(rs.map((r) => r.req_per_s)),
      conversions_per_s: median(rs.map((r) => r.conversions_per_s)),
      p50_ms: median(rs.map((r) => r.latency_ms.p50)),
      p99_ms: median(rs.map((r) => r.latency_ms.p99)),
      non_2xx: rs.reduce((a, r) => a + r.non_2xx, 0),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      peak_rss_mb: Math.max(...rs.map((r) => r.peak_rss_mb)),
      cpu_us_per_request_service: median(rs.map((r) => r.cpu_us_per_request.service)),
      cpu_us_per_request_pg:
        rs[0].cpu_us_per_request.pg_backends === null ? null : median(rs.map((r) => r.cpu_us_per_request.pg_backends)),
      cpu_us_per_conversion: {
        service: median(rs.map((r) => r.cpu_us_per_conversion.service)),
        pg: rs[0].cpu_us_per_conversion.pg === null ? null : median(rs.map((r) => r.cpu_us_per_conversion.pg)),
        nodes: rs[0].cpu_us_per_conversion.nodes
          ? Object.fromEntries(
              Object.keys(rs[0].cpu_us_per_conversion.nodes).map((k) => [
                k,
                median(rs.map((r) => r.cpu_us_per_conversion.nodes[k])),
              ]),
            )
          : null,
      },
      xacts_per_conversion: rs[0].xacts_per_conversion
        ? Object.fromEntries(
            Object.keys(rs[0].xacts_per_conversion).map((k) => [k, median(rs.map((r) => r.xacts_per_conversion[k]))]),
          )
        : null,
      cpu_us_per_request_pg_nodes: rs[0].cpu_us_per_request.pg_nodes
        ? Object.fromEntries(
            Object.keys(rs[0].cpu_us_per_request.pg_nodes).map((k) => [
              k,
              median(rs.map((r) => r.cpu_us_per_request.pg_nodes[k])),
            ]),
          )
        : null,
      db_check: ok ? 'ok' : 'FAILED',
    };
  }
  for (const r of runs) {
    for (const a of r.adversarial ?? []) {
      if (a.fivexx) {
        allOk = false;
        console.error(`adversarial: ${a.route} answered ${a.fivexx} 5xx (or dropped the connection)`);
      }
    }
  }
  console.log(
    `\n${opts.runs > 1 ? `median of ${opts.runs} runs` : 'result'} (${driver}; non-2xx and errors summed over runs, peak RSS the max):`,
  );
  console.log(
    '  scenario                                          req/s  conv/s   p50   p99  non-2xx  errors  peak RSS  cpu us/req svc+pg  db check',
  );
  for (const n of opts.scenarios) {
    const s = summary[n];
    console.log(
      `  ${n} ${s.scenario.padEnd(46)} ${String(s.req_per_s).padStart(6)} ${String(s.conversions_per_s).padStart(7)} ${String(s.p50_ms).padStart(5)} ${String(s.p99_ms).padStart(5)} ` +
        `${String(s.non_2xx).padStart(8)} ${String(s.errors).padStart(7)} ${String(s.peak_rss_mb).padStart(7)} MB  ` +
        `${String(s.cpu_us_per_request_service).padStart(7)}+${s.cpu_us_per_request_pg ?? '-'}  ${s.db_check}` +
        (s.cpu_us_per_request_pg_nodes
          ? `  per node ${Object.entries(s.cpu_us_per_request_pg_nodes)
              .map(([k, v]) => `${k}: ${v}`)
              .join(', ')} us`
          : ''),
    );
  }
  return { summary, allOk };
}

/** PostgreSQL and Citus medians of the same run, one line per scenario, CPU per conversion per node. */
function sideBySide(opts, pg, citus) {
  console.log(
    `\nside by side (medians of ${opts.runs} run(s) each; CPU in us per conversion, summed over the node's backends of the bench database):`,
  );
  console.log(
    '  scenario                                              PostgreSQL conv/s  p99 | Citus conv/s  p99  ratio | CPU/conv PostgreSQL svc+pg | Citus svc + coordinator + worker 1 + worker 2 = total',
  );
  for (const n of opts.scenarios) {
    const a = pg[n];
    const b = citus[n];
    const ca = a.cpu_us_per_conversion;
    const cb = b.cpu_us_per_conversion;
    const nodes = Object.values(cb.nodes ?? {});
    const total = cb.service + nodes.reduce((x, y) => x + y, 0);
    console.log(
      `  ${n} ${a.scenario.padEnd(50)} ${String(a.conversions_per_s).padStart(10)} ${String(a.p99_ms).padStart(5)} | ${String(b.conversions_per_s).padStart(12)} ${String(b.p99_ms).padStart(4)} ${(b.conversions_per_s / a.conversions_per_s).toFixed(2).padStart(6)} | ` +
        `${`${ca.service}+${ca.pg} = ${ca.service + ca.pg}`.padStart(26)} | ${cb.service} + ${nodes.join(' + ')} = ${total}` +
        `  ${a.db_check === 'ok' && b.db_check === 'ok' ? '' : 'db check FAILED'}`,
    );
  }
  console.log('  transactions per conversion per node (pg_stat_database, committed + rolled back):');
  for (const n of opts.scenarios) {
    const fmt = (x) =>
      Object.entries(x ?? {})
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    console.log(
      `  ${n}  PostgreSQL: ${fmt(pg[n].xacts_per_conversion)}  |  Citus: ${fmt(citus[n].xacts_per_conversion)}`,
    );
  }
}

/** Writes the run (and the Citus runs beside it) under bench/results/. */
function save(opts, driver, runs, summary, citus) {
  if (opts.save) {
    const dir = path.join(__dirname, 'results');
    fs.mkdirSync(dir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const file = path.join(dir, `${stamp}-${citus ? 'postgres-citus' : driver}.json`);
    let commit = null;
    try {
      commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
    } catch {
      /* not a git checkout */
    }
    const out = {
      at: new Date().toISOString(),
      commit,
      driver,
      service: path.relative(ROOT, opts.main ?? path.join(ROOT, 'dist/src/main.js')),
      options: {
        runs: opts.runs,
        duration_s: opts.duration,
        warmup_s: opts.warmup,
        connections: opts.connections,
        batch_size: opts.batchSize,
        batch_connections: opts.batchConnections,
        clicks: opts.clicks,
        service_node_options: opts.env.NODE_OPTIONS ?? productionNodeOptions(),
        env: opts.env,
      },
      machine: {
        node: process.version,
        cpus: os.cpus().length,
        cpu: os.cpus()[0]?.model,
        load_avg_at_end: os.loadavg(),
      },
      summary,
      runs,
      citus: citus ? { summary: citus.summary, runs: citus.runs } : undefined,
    };
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    console.log(`\nwritten: ${path.relative(ROOT, file)}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
