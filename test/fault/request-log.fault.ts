import {
  BASE_URL,
  call,
  conversion,
  dropDatabase,
  freshDatabase,
  Service,
  setupPartner,
  sleep,
  startService,
} from './harness';

const d = BASE_URL ? describe : describe.skip;

d('request log lines (the compiled service, LOG_LEVEL=info)', () => {
  let db: string;
  let svc: Service | undefined;
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    if (db) await dropDatabase(db);
  });

  it('writes one JSON line per request with id, route, status, latency and key id; never the secret, headers or body', async () => {
    db = await freshDatabase('log');
    svc = await startService(3642, db, { LOG_LEVEL: 'info' });
    const s = await setupPartner(svc.url, 1);
    const secretValue = 'very-secret-body-value-42';
    const r = await call(svc.url, 'POST', '/api/conversion?sig=query-secret', {
      key: s.partnerKey,
      body: conversion(s.clicks[0], { order_id: 'o-log-1', note: secretValue }),
      headers: { 'x-request-id': 'log-test-req-1', cookie: 'session=cookie-secret' },
    });
    expect(r.status).toBe(200);
    await sleep(300);
    const text = svc.log();
    const lines = text.split('\n').filter((l) => l.includes('"log-test-req-1"'));
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]);
    expect(line).toEqual({
      level: 30,
      time: expect.any(Number),
      pid: expect.any(Number),
      hostname: expect.any(String),
      context: 'http',
      req_id: 'log-test-req-1',
      method: 'POST',
      route: '/api/conversion',
      path: '/api/conversion',
      status: 200,
      ms: expect.any(Number),
      key_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      msg: 'request',
    });
    for (const leak of [s.partnerKey, secretValue, 'query-secret', 'cookie-secret', 'authorization', 'Bearer'])
      expect(text).not.toContain(leak);
  });
});
