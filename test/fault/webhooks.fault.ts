import { WebhookReceiver } from '../webhook-receiver';
import {
  ADMIN_KEY,
  BASE_URL,
  call,
  conversion,
  dbClient,
  dropDatabase,
  freshDatabase,
  report,
  Service,
  setupPartner,
  sleep,
  startService,
} from './harness';

const d = BASE_URL ? describe : describe.skip;

/** Short schedules so the test is bounded; the production defaults are the README's. */
const ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_MS: '100',
  WEBHOOK_RETRY_BASE_MS: '200',
  WEBHOOK_TIMEOUT_MS: '2000',
  WEBHOOK_LEASE_MS: '3000',
};

d('fault: kill -9 while webhook deliveries are pending, then restart', () => {
  let db: string;
  let svc: Service | undefined;
  const receiver = new WebhookReceiver();
  afterAll(async () => {
    svc?.proc.kill('SIGKILL');
    await receiver.stop();
    if (db) await dropDatabase(db);
  });

  it('every event of every committed conversion reaches the receiver at least once; by webhook-id exactly once', async () => {
    await receiver.start();
    // Slow answers: many deliveries are in flight (claimed, leased, unanswered) when the process dies.
    receiver.delayMs = 150;
    db = await freshDatabase('webhooks');
    const port = 3611;
    svc = await startService(port, db, ENV);
    const s = await setupPartner(svc.url, 20);
    const ep = await call(svc.url, 'POST', `/admin/partners/${s.partnerId}/webhooks`, {
      key: ADMIN_KEY,
      body: { url: receiver.url('/fault'), events: ['conversion.created'] },
    });
    expect(ep.status).toBe(201);

    let n = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        const a = await call(svc!.url, 'POST', '/api/conversion', {
          key: s.partnerKey,
          body: conversion(s.clicks[n % s.clicks.length], { order_id: `wh-${n++}` }),
        });
        if (a.status === 0) return;
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await sleep(2000);
    svc.proc.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await svc.exited;
    const receivedAtKill = receiver.on('/fault').length;

    const c = await dbClient(db);
    let committed: string[];
    let produced: number;
    let pendingAtKill: number;
    try {
      committed = (
        await c.query<{ id: string }>(`SELECT id FROM conversions WHERE partner_id = $1`, [s.partnerId])
      ).rows.map((r) => r.id);
      produced = Number((await c.query(`SELECT count(*) AS n FROM webhook_messages`)).rows[0].n);
      pendingAtKill = Number(
        (await c.query(`SELECT count(*) AS n FROM webhook_messages WHERE status = 'pending'`)).rows[0].n,
      );
    } finally {
      await c.end();
    }
    expect(committed.length).toBeGreaterThan(50);
    expect(pendingAtKill).toBeGreaterThan(0);

    // Restart: the outbox is drained (messages whose attempt the kill cut short are retaken after the lease).
    receiver.delayMs = 0;
    svc = await startService(port, db, ENV);
    const delivered = () => {
      const byConversion = new Set<string>();
      for (const m of receiver.on('/fault')) {
        const body = JSON.parse(m.body) as { data?: { id?: string } };
        if (body.data?.id) byConversion.add(body.data.id);
      }
      return byConversion;
    };
    await receiver.until(() => committed.every((id) => delivered().has(id)), 60_000);

    const all = receiver.on('/fault');
    const ids = new Set(all.map((m) => m.headers['webhook-id']));
    const seen = delivered();
    const lost = committed.filter((id) => !seen.has(id)).length;
    report('webhooks', {
      conversions_committed: committed.length,
      events_produced: produced,
      pending_at_kill: pendingAtKill,
      received_before_kill: receivedAtKill,
      delivered_unique: ids.size,
      received_total: all.length,
      redelivered: all.length - ids.size,
      lost,
    });
    expect(lost).toBe(0);
    // One message per committed conversion, each delivered; a duplicate delivery has the same webhook-id.
    expect(produced).toBe(committed.length);
    expect(ids.size).toBe(produced);
  });
});
