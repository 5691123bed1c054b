#!/usr/bin/env node
/*
 * Admin-surface benchmark (PostgreSQL, and with --citus the local Citus cluster beside it). Not a
 * test: it prints figures.
 *
 *   npm run build && npm run bench:admin
 *   npm run build && npm run bench:admin -- --citus   # the same on ../shared/tools/citus-cluster, p95 side by side
 *
 * Env: BENCH_ONLY=csv (skip the list latencies), BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/thrad_issue3_bench; created if
 * missing), BENCH_PORT (3300; the Citus service takes the next port), BENCH_SAMPLES (200 per case), BENCH_RESEED=1 to reseed,
 * BENCH_CITUS_NAME (the Citus database, default the PostgreSQL one's name + _citus; made with
 * `citus-cluster db NAME` when missing or not seeded, reused when it holds the 1,000,000 conversions).
 *
 * 1. starts the service (dist/src/main.js) on the database; it runs the migrations at boot;
 * 2. seeds, with generate_series, 50 partners x 2 tags, 100,000 clicks, 1,000,000 conversions
 *    (skipped when already seeded), then ANALYZE;
 * 3. for every filter: p50/p95/max of the first page and of a deep page (a cursor ~50,000 rows in,
 *    or the middle of a small result), measured at the HTTP boundary, one request at a time;
 * 4. EXPLAIN ANALYZE of the SQL the service runs for each case;
 * 5. the partner's own listing (GET /api/conversions), the explain routes, GET /admin/conversions/{id}
 *    (by id alone: on Citus a fan-out to every shard) and one partner's CSV export, p50/p95/max;
 * 6. the CSV export of every row: rows/s and the service's peak RSS.
 * With --citus, steps 1-6 run on PostgreSQL, then (that service stopped) on Citus, with the same
 * seed (the same ids, so the same cursors), and a table puts each case's p95 side by side.
 */
const { spawn } = require('node:child_process');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { Client } = require('pg');

const DB_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/thrad_issue3_bench';
const PORT = Number(process.env.BENCH_PORT || 3300);
const SAMPLES = Number(process.env.BENCH_SAMPLES || 200);
const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';
const CITUS = process.argv.slice(2).includes('--citus');
for (const a of process.argv.slice(2)) if (a !== '--citus') throw new Error(`unknown option ${a} (only --citus)`);
const CITUS_NAME = process.env.BENCH_CITUS_NAME || `${new URL(DB_URL).pathname.slice(1)}_citus`;
const CITUS_COORDINATOR = process.env.BENCH_CITUS_COORDINATOR || 'postgres://postgres@127.0.0.1:5440';
let BASE = `http://127.0.0.1:${PORT}`;
// BENCH_CONVERSIONS: a smaller seed to try the script out (the figures to quote are at 1,000,000).
const N_CONV = Number(process.env.BENCH_CONVERSIONS || 1_000_000);
const N_CLICKS = N_CONV / 10;
const N_PARTNERS = 50;
const N_TAGS = 100;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function ensureDatabase() {
  const u = new URL(DB_URL);
  const name = u.pathname.slice(1);
  u.pathname = '/postgres';
  const c = new Client({ connectionString: u.toString() });
  await c.connect();
  const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (!rowCount) await c.query(`CREATE DATABASE "${name}"`);
  await c.end();
}

/**
 * The Citus database's URL: reused when it exists with the seed in it, else made fresh (every node)
 * with citus-cluster. The seed is then written by seed() through the coordinator.
 */
async function ensureCitusDatabase() {
  if (!/^[a-z_][a-z0-9_]*$/.test(CITUS_NAME)) throw new Error('BENCH_CITUS_NAME must be a plain lower-case identifier');
  const url = `${CITUS_COORDINATOR}/${CITUS_NAME}`;
  if (!process.env.BENCH_RESEED) {
    const c = new Client({ connectionString: url });
    try {
      await c.connect();
      const { rows } = await c.query(
        "SELECT to_regclass('conversions') IS NOT NULL AS t, EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid::text = 'conversions') AS d",
      );
      if (rows[0].t && rows[0].d) {
        const n = (await c.query('SELECT count(*)::int AS n FROM conversions')).rows[0].n;
        if (n === N_CONV) return url;
      }
    } catch {
      /* missing: made below */
    } finally {
      await c.end().catch(() => {});
    }
  }
  console.log(`citus: citus-cluster db ${CITUS_NAME}`);
  return require('./citus.js').citusDatabase(CITUS_NAME);
}

function startService(dbUrl) {
  const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'src', 'main.js')], {
    env: {
      ...process.env,
      DATABASE_URL: dbUrl,
      PORT: new URL(BASE).port,
      HOST: '127.0.0.1',
      BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      // Production requires the click- and link-signing secrets; the bench's are throwaway.
      CLICK_SIGNING_SECRET: require('node:crypto').randomBytes(36).toString('base64'),
      LINK_SIGNING_SECRET: require('node:crypto').randomBytes(36).toString('base64'),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function waitHealthy() {
  for (let i = 0; i < 600; i++) {
    try {
      const r = await fetch(`${BASE}/health`);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error('service did not become healthy');
}

async function seed(db) {
  const { rows } = await db.query('SELECT count(*)::int AS n FROM conversions');
  if (rows[0].n === N_CONV && !process.env.BENCH_RESEED) {
    console.log(`seed: ${rows[0].n} conversions already there (BENCH_RESEED=1 to redo)`);
    return;
  }
  const t0 = Date.now();
  await db.query('TRUNCATE conversions, dedup_claims, clicks, tags, audit_log');
  await db.query("DELETE FROM api_keys WHERE role <> 'admin'");
  await db.query('DELETE FROM partners');
  const pid = (expr) => `md5('p' || (${expr}))::uuid::text`;
  const tid = (expr) => `md5('t' || (${expr}))::uuid::text`;
  await db.query(`INSERT INTO partners (id, name, disabled_at, created_at)
    SELECT ${pid('i')}, 'Partner ' || i, NULL, '2025-01-01'::timestamptz FROM generate_series(0, ${N_PARTNERS - 1}) i`);
  await db.query(`INSERT INTO tags (id, partner_id, name, allowed_origins, created_at)
    SELECT ${tid('i')}, ${pid(`i % ${N_PARTNERS}`)}, 'tag ' || i, '["https://shop.example.com"]'::json, '2025-01-01'::timestamptz
    FROM generate_series(0, ${N_TAGS - 1}) i`);
  await db.query(`INSERT INTO clicks (click_id, tag_id, partner_id, bid_id, clicked_at, landing_url, created_at)
    SELECT 'clk_' || i, ${tid(`i % ${N_TAGS}`)}, ${pid(`(i % ${N_TAGS}) % ${N_PARTNERS}`)}, 'bid_' || i,
           '2026-01-01'::timestamptz + (i % 7776000) * interval '1 second', 'https://shop.example.com/p/' || i, '2026-01-01'::timestamptz
    FROM generate_series(0, ${N_CLICKS - 1}) i`);
  console.log(`seed: partners, tags, clicks in ${Date.now() - t0} ms`);
  // 1,000,000 conversions over 90 days; event types 80/15/5 %; source api 85 % / tag 15 %.
  const CHUNK = 250_000;
  for (let lo = 0; lo < N_CONV; lo += CHUNK) {
    await db.query(`INSERT INTO conversions (id, partner_id, tag_id, click_id, bid_id, source, event_type, conversion_time,
        conversion_value, currency, order_id, event_id, dedup_key, dedup_layer, page_url, referrer, user_agent, session_id, client_id, params, created_at)
      SELECT md5('c' || g)::uuid::text, ${pid(`((g % ${N_CLICKS}) % ${N_TAGS}) % ${N_PARTNERS}`)}, ${tid(`(g % ${N_CLICKS}) % ${N_TAGS}`)},
             'clk_' || (g % ${N_CLICKS}), 'bid_' || (g % ${N_CLICKS}),
             CASE WHEN g % 20 < 3 THEN 'tag' ELSE 'api' END,
             CASE WHEN g % 20 = 0 THEN 'trial_started' WHEN g % 20 < 4 THEN 'lead_created' ELSE 'purchase_completed' END,
             '2026-01-01'::timestamptz + ((g::bigint * 7919) % 7776000000) * interval '1 millisecond',
             ((g % 10000) / 100.0)::numeric(20,6), 'USD', 'ord_' || g, NULL, 'ord_' || g, 'order_id',
             'https://shop.example.com/checkout/done', NULL, 'Mozilla/5.0 (bench)', 'sess_' || (g % 5000), NULL,
             json_build_object('extra', json_build_object('coupon', 'C' || (g % 97), 'note', 'a,b "c"')),
             '2026-04-01'::timestamptz
      FROM generate_series(${lo}, ${Math.min(lo + CHUNK, N_CONV) - 1}) g`);
    console.log(`seed: ${Math.min(lo + CHUNK, N_CONV)} conversions, ${Date.now() - t0} ms`);
  }
  await db.query('ANALYZE');
  console.log(`seed: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

async function api(method, url, body) {
  const r = await fetch(`${BASE}${url}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function timeGet(url, key) {
  const t0 = process.hrtime.bigint();
  const r = await fetch(url, { headers: { authorization: `Bearer ${key}` } });
  await r.arrayBuffer();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
  return ms;
}

/** The WHERE clause the service builds for a filter (for the deep cursor and EXPLAIN). */
function whereOf(f) {
  const parts = [];
  const params = [];
  for (const [k, v] of Object.entries(f)) {
    params.push(v);
    if (k === 'from') parts.push(`conversion_time >= CAST($${params.length} AS timestamptz)`);
    else if (k === 'to') parts.push(`conversion_time < CAST($${params.length} AS timestamptz)`);
    else parts.push(`${k} = $${params.length}`);
  }
  return { sql: parts.length ? parts.join(' AND ') : 'true', params };
}

async function timeCase(url, key, samples = SAMPLES, warm = 10) {
  for (let i = 0; i < warm; i++) await timeGet(url, key);
  const xs = [];
  for (let i = 0; i < samples; i++) xs.push(await timeGet(url, key));
  return { p50: pct(xs, 50).toFixed(2), p95: pct(xs, 95).toFixed(2), max: Math.max(...xs).toFixed(2) };
}

/**
 * Steps 1-6 on one database. `setup` (the cases' totals and deep cursors) comes from the first
 * database measured and is reused on the second: the seeds are the same rows.
 */
async function measure(label, dbUrl, setup) {
  console.log(`\n# ${label}: ${dbUrl.replace(/\/\/[^@]*@/, '//')}`);
  const svc = startService(dbUrl);
  const stop = () => svc.kill('SIGTERM');
  process.on('exit', stop);
  const exited = new Promise((r) => svc.once('exit', r));
  try {
    await waitHealthy();
    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    await seed(db);
    const support = (await api('POST', '/admin/keys', { role: 'support', name: 'bench' })).key;

    const p7 = (await db.query(`SELECT md5('p7')::uuid::text AS id`)).rows[0].id;
    const t7 = (await db.query(`SELECT md5('t7')::uuid::text AS id`)).rows[0].id;
    const cases = [
      ['no filter', {}],
      ['partner_id', { partner_id: p7 }],
      ['tag_id', { tag_id: t7 }],
      ['click_id', { click_id: 'clk_4242' }],
      ['order_id', { order_id: 'ord_777777' }],
      ['event_type=purchase_completed (80%)', { event_type: 'purchase_completed' }],
      ['event_type=trial_started (5%)', { event_type: 'trial_started' }],
      ['source=tag (15%)', { source: 'tag' }],
      ['from/to (1 day)', { from: '2026-02-10T00:00:00.000Z', to: '2026-02-11T00:00:00.000Z' }],
      ['partner_id + event_type=trial_started', { partner_id: p7, event_type: 'trial_started' }],
      [
        'partner_id + from/to (1 day)',
        { partner_id: p7, from: '2026-02-10T00:00:00.000Z', to: '2026-02-11T00:00:00.000Z' },
      ],
      ['partner_id + source=tag', { partner_id: p7, source: 'tag' }],
      ['tag_id + source=tag', { tag_id: t7, source: 'tag' }],
    ];
    const results = [];
    const plans = [];
    const own = setup === undefined;
    setup ??= {};
    for (const [name, f] of process.env.BENCH_ONLY === 'csv' ? [] : cases) {
      const w = whereOf(f);
      if (own) {
        const total = (await db.query(`SELECT count(*)::int AS n FROM conversions WHERE ${w.sql}`, w.params)).rows[0].n;
        const depth = total > 100_000 ? 50_000 : Math.floor(total / 2);
        const deep = (
          await db.query(
            `SELECT conversion_time, id FROM conversions WHERE ${w.sql} ORDER BY conversion_time DESC, id DESC OFFSET ${depth} LIMIT 1`,
            w.params,
          )
        ).rows[0];
        setup[name] = {
          total,
          depth,
          deep: deep && { conversion_time: deep.conversion_time.toISOString(), id: deep.id },
        };
      }
      const { total, depth, deep } = setup[name];
      const cursor = deep ? Buffer.from(`${deep.conversion_time}|${deep.id}`).toString('base64url') : null;
      const qs = new URLSearchParams(f).toString();
      for (const [label, url] of [
        ['first page', `${BASE}/admin/conversions?${qs}&limit=50`],
        [`deep page (row ${depth})`, cursor ? `${BASE}/admin/conversions?${qs}&limit=50&cursor=${cursor}` : null],
      ]) {
        if (!url) continue;
        results.push({ case: name, page: label, rows: total, ...(await timeCase(url, support)) });
      }
      // The plan of the deep page's query (the first page is the same without the row comparison).
      const params = [...w.params];
      let sql = `SELECT * FROM conversions WHERE ${w.sql}`;
      if (deep) {
        params.push(deep.conversion_time, deep.id);
        sql += ` AND (conversion_time, id) < (CAST($${params.length - 1} AS timestamptz), $${params.length})`;
      }
      sql += ' ORDER BY conversion_time DESC, id DESC LIMIT 51';
      const plan = (await db.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${sql}`, params)).rows.map(
        (r) => r['QUERY PLAN'],
      );
      plans.push({ name, plan });
    }
    // The other read routes: the partner's own listing, the explain routes, a conversion by id alone
    // (no click: on Citus every shard is asked), one partner's CSV export.
    // Conversion g = 777777 (of the seed): click clk_77777, order ord_777777, partner 27.
    const g = 777777 % N_CONV;
    const gClick = `clk_${g % N_CLICKS}`;
    const gPartner = (
      await db.query(`SELECT md5('p' || $1::int)::uuid::text AS id`, [((g % N_CLICKS) % N_TAGS) % N_PARTNERS])
    ).rows[0].id;
    const byId = (await db.query(`SELECT md5('c' || $1::int)::uuid::text AS id`, [g])).rows[0].id;
    const partnerKey = (await api('POST', '/admin/keys', { role: 'partner', partner_id: p7 })).key;
    const routes = [
      ['GET /api/conversions (partner p7, first page)', `/api/conversions?limit=50`, partnerKey],
      [
        'GET /api/conversions (partner p7, from/to 1 day)',
        `/api/conversions?limit=50&from=2026-02-10T00:00:00.000Z&to=2026-02-11T00:00:00.000Z`,
        partnerKey,
      ],
      [
        'GET /api/diagnostics/clicks/{click_id} (partner p7)',
        `/api/diagnostics/clicks/clk_${4207 % N_CLICKS}`,
        partnerKey,
      ],
      ['GET /admin/explain?click_id', `/admin/explain?click_id=clk_${4242 % N_CLICKS}`, support],
      ['GET /admin/explain?order_id&partner_id', `/admin/explain?order_id=ord_${g}&partner_id=${gPartner}`, support],
      ['GET /admin/conversions/{id} (by id alone)', `/admin/conversions/${byId}`, support],
      ['GET /admin/conversions?click_id (the same row, one shard)', `/admin/conversions?click_id=${gClick}`, support],
      [
        'GET /admin/conversions/export.csv?partner_id (20,000 rows)',
        `/admin/conversions/export.csv?partner_id=${p7}`,
        support,
        10,
        1,
      ],
    ];
    for (const [name, url, key, samples, warm] of process.env.BENCH_ONLY === 'csv' ? [] : routes) {
      results.push({
        case: name,
        page: '-',
        rows: '-',
        ...(await timeCase(`${BASE}${url}`, key, samples ?? SAMPLES, warm)),
      });
    }
    if (!own) {
      // Citus: the plan of a lookup by id alone (every shard) and of the first page with no filter.
      for (const [name, sql, params] of [
        ['by id alone', 'SELECT * FROM conversions WHERE id = $1', [byId]],
        ['no filter, first page', 'SELECT * FROM conversions ORDER BY conversion_time DESC, id DESC LIMIT 51', []],
      ]) {
        const plan = (await db.query(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) ${sql}`, params)).rows.map(
          (r) => r['QUERY PLAN'],
        );
        plans.push({ name, plan });
      }
    }
    console.log(
      `\n## ${label}: latency at the HTTP boundary (ms), one request at a time, ${SAMPLES} samples each (the partner CSV export 10)`,
    );
    console.table(results);

    console.log(`\n## ${label}: query plans${own ? ' (deep page)' : ''}`);
    for (const p of plans) console.log(`\n### ${p.name}\n${p.plan.join('\n')}`);

    // CSV export of everything: rows/s and peak RSS of the service.
    let peak = 0;
    const rss = () => {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${svc.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        /* gone */
      }
    };
    rss();
    const before = peak;
    const total = (await db.query('SELECT count(*)::int AS n FROM conversions')).rows[0].n;
    const timer = setInterval(rss, 100);
    const t0 = Date.now();
    // The client shares the machine's two cores with the service and PostgreSQL: curl (when
    // present) costs least; it discards the body, and the rows are the table's count (the e2e
    // tests prove every row is written). Otherwise node:http, counting line ends.
    let status;
    let bytes = 0;
    let newlines = 0;
    let partial = false;
    // On Citus every batch of the export asks every shard for a batch (see the README): the whole
    // 1,000,000 rows would take many minutes there, so the export is stopped at BENCH_CITUS_CSV_MAX_S
    // (120 s) and its rate taken from the bytes received (rows estimated at PostgreSQL's bytes per row).
    const maxS = own ? 900 : Number(process.env.BENCH_CITUS_CSV_MAX_S || 120);
    const curl = require('node:child_process').spawnSync('curl', ['--version']).status === 0;
    if (curl) {
      const out = await new Promise((resolve, reject) => {
        const c = spawn('curl', [
          '-s',
          '-o',
          '/dev/null',
          '--max-time',
          String(maxS),
          '-w',
          '%{http_code} %{size_download}',
          '-H',
          `authorization: Bearer ${support}`,
          `${BASE}/admin/conversions/export.csv`,
        ]);
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.on('close', (code) => resolve({ o, code }));
        c.on('error', reject);
      });
      [status, bytes] = out.o.split(' ').map(Number);
      partial = out.code === 28; // curl: --max-time reached
      if (own) setup.csvBytesPerRow = bytes / total;
      newlines = partial && setup.csvBytesPerRow ? Math.round(bytes / setup.csvBytesPerRow) + 1 : total + 1;
    } else {
      const r = await new Promise((resolve, reject) => {
        require('node:http')
          .get(`${BASE}/admin/conversions/export.csv`, { headers: { authorization: `Bearer ${support}` } }, resolve)
          .on('error', reject);
      });
      status = r.statusCode;
      for await (const chunk of r) {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) newlines++;
      }
    }
    const secs = (Date.now() - t0) / 1000;
    clearInterval(timer);
    rss();
    const rows = newlines - 1;
    console.log(`\n## ${label}: CSV export, no filter`);
    console.log(
      `${curl ? 'curl' : 'node:http'}: status ${status}, ${partial ? `stopped at ${maxS} s, about ` : ''}${rows} rows${partial ? ` of ${total} (estimated from the bytes)` : ''}, ${(bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(1)} s: ${Math.round(rows / secs)} rows/s`,
    );
    console.log(`service RSS before ${(before / 1e6).toFixed(0)} MB, peak during export ${(peak / 1e6).toFixed(0)} MB`);
    await db.end();
    return { setup, results, csv: { status, rows, secs, partial, rows_per_s: Math.round(rows / secs) } };
  } finally {
    stop();
    await exited;
    process.removeListener('exit', stop);
  }
}

async function main() {
  await ensureDatabase();
  const pg = await measure('PostgreSQL', DB_URL);
  if (!CITUS) return;
  const citusUrl = await ensureCitusDatabase();
  BASE = `http://127.0.0.1:${PORT + 1}`;
  const citus = await measure('Citus (coordinator + 2 workers, this machine)', citusUrl, pg.setup);
  console.log('\n## p95 side by side (ms; the same seed, the same requests, one run)');
  const rows = pg.results.map((r, i) => {
    const c = citus.results[i];
    return {
      case: r.case,
      page: r.page,
      'PostgreSQL p95': r.p95,
      'Citus p95': c.p95,
      'Citus / PostgreSQL': (Number(c.p95) / Number(r.p95)).toFixed(1),
    };
  });
  rows.push({
    case: `CSV export, every row${citus.csv.partial ? ` (Citus: the first ${citus.csv.secs.toFixed(0)} s)` : ''}`,
    page: 'rows/s',
    'PostgreSQL p95': String(pg.csv.rows_per_s),
    'Citus p95': String(citus.csv.rows_per_s),
    'Citus / PostgreSQL': (citus.csv.rows_per_s / pg.csv.rows_per_s).toFixed(2),
  });
  console.table(rows);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
