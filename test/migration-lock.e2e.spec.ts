import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { MIGRATIONS } from '../src/database/migrations';
import { ServiceProcess } from './service-process';
import { onPostgres, TEST_DATABASE_URL } from './test-app';

/*
 * Replicas that start together on an unmigrated PostgreSQL database take turns at the migrations
 * (an advisory lock): both serve, every migration ran once, and neither hit a failed CREATE and
 * Nest's connection retry. The compiled service (npm test builds dist/), on an empty schema of
 * the test database (search_path), so that no other run's tables are in the way.
 */
if (!onPostgres) console.warn('SKIPPED the migration lock test: it needs PostgreSQL (set TEST_DATABASE_URL).');

(onPostgres ? describe : describe.skip)('migrations at boot under an advisory lock (e2e, PostgreSQL)', () => {
  const schema = `mig_lock_${randomBytes(4).toString('hex')}`;
  let admin: Client;
  const procs: ServiceProcess[] = [];

  beforeAll(async () => {
    admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  it('two processes booting at once on an empty database both serve, and each migration ran once', async () => {
    const url = new URL(TEST_DATABASE_URL!);
    url.searchParams.set('options', `-c search_path=${schema}`);
    const env = { DATABASE_URL: url.toString() };
    const started = await Promise.allSettled([ServiceProcess.start(env), ServiceProcess.start(env)]);
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value);
    expect(started.map((s) => (s.status === 'rejected' ? String(s.reason) : 'serving'))).toEqual([
      'serving',
      'serving',
    ]);
    for (const p of procs) expect((await fetch(`${p.url}/health/ready`)).status).toBe(200);

    const { rows } = await admin.query<{ name: string; n: string }>(
      `SELECT name, COUNT(*) AS n FROM ${schema}.migrations GROUP BY name ORDER BY name`,
    );
    expect(rows.map((r) => [r.name, Number(r.n)]).sort()).toEqual(MIGRATIONS.map((m) => [m.name, 1]).sort());
    const output = procs.map((p) => p.output.join('')).join('\n');
    expect(output).not.toMatch(/Unable to connect to the database|already exists|duplicate key/);
  }, 90_000);
});
