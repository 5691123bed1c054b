import { ServiceProcess } from './service-process';
import { ADMIN_KEY, onPostgres, useTestApp } from './test-app';

/*
 * The compiled service's own log on stdout (written asynchronously): one JSON line per request,
 * there without waiting for the process to exit, carrying the request id, route and status and
 * never the key that authorised the request.
 */
describe('request log of the compiled service (e2e)', () => {
  const { t } = useTestApp({ partners: 0 }); // migrates the database the process shares
  let svc: ServiceProcess;

  beforeAll(async () => {
    const env = onPostgres ? { DATABASE_URL: t.config.databaseUrl } : { SQLITE_PATH: t.config.sqlitePath };
    svc = await ServiceProcess.start({ ...env, LOG_LEVEL: 'info' });
  }, 60_000);
  afterAll(async () => {
    await svc?.stop();
  });

  const logLines = (): Record<string, unknown>[] =>
    svc.output
      .join('')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  it('writes one line per request while the process runs, without the bearer key', async () => {
    const r = await fetch(`${svc.url}/admin/partners?limit=1`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'x-request-id': 'log-test-1' },
    });
    expect(r.status).toBe(200);
    const deadline = Date.now() + 5000;
    let line: Record<string, unknown> | undefined;
    while (!line && Date.now() < deadline) {
      line = logLines().find((l) => l.req_id === 'log-test-1');
      if (!line) await new Promise((res) => setTimeout(res, 50));
    }
    expect(line).toMatchObject({
      msg: 'request',
      method: 'GET',
      route: '/admin/partners',
      path: '/admin/partners',
      status: 200,
      context: 'http',
    });
    expect(typeof line!.key_id).toBe('string');
    expect(svc.output.join('')).not.toContain(ADMIN_KEY);
  });
});
