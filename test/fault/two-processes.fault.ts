import {
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
  startService,
} from './harness';

const d = BASE_URL ? describe : describe.skip;
const EVENT = 'purchase_completed';

d('fault: two service processes, one database, mixed new and retried conversions', () => {
  let db: string;
  const svcs: Service[] = [];
  afterAll(async () => {
    for (const s of svcs) s.proc.kill('SIGKILL');
    if (db) await dropDatabase(db);
  });

  it('writes exactly one row per dedup key, whichever process and layer each request used', async () => {
    db = await freshDatabase('two');
    // Start one after the other: each runs pending migrations at boot.
    svcs.push(await startService(3621, db));
    svcs.push(await startService(3622, db));
    const s = await setupPartner(svcs[0].url, 8);

    // 150 conversions (key value x click), each sent 1 to 5 times, to either process, with the key
    // carried by the header, event_id or order_id at random: a mix of new requests and retries.
    let seed = 42;
    const rnd = (k: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % k;
    };
    const jobs: { key: string; click: string }[] = [];
    for (let i = 0; i < 150; i++) {
      const job = { key: `two-${i}`, click: s.clicks[i % s.clicks.length] };
      const times = 1 + rnd(5);
      for (let t = 0; t < times; t++) jobs.push(job);
    }
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = rnd(i + 1);
      [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
    }
    const answers: (Answer & { key: string; click: string })[] = [];
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        const layer = rnd(3);
        const body = conversion(
          job.click,
          layer === 1 ? { event_id: job.key } : layer === 2 ? { order_id: job.key } : {},
        );
        const headers: Record<string, string> = layer === 0 ? { 'idempotency-key': job.key } : {};
        const a = await call(svcs[rnd(2)].url, 'POST', '/api/conversion', { key: s.partnerKey, body, headers });
        answers.push({ ...a, ...job });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));

    const rows = await rowsPerKey(db, s.partnerId);
    const conversions = new Set(jobs.map((j) => `${j.key}|${j.click}|${EVENT}`));
    const oks = answers.filter((a) => a.status === 200 && a.body?.status === 'ok');
    const dups = answers.filter((a) => a.status === 200 && a.body?.status === 'duplicate');
    const okPerConversion = new Map<string, number>();
    for (const a of oks)
      okPerConversion.set(`${a.key}|${a.click}`, (okPerConversion.get(`${a.key}|${a.click}`) ?? 0) + 1);
    const duplicates = [...rows.values()].reduce((acc, c) => acc + Math.max(0, c - 1), 0);
    const notOnce = [...conversions].filter((k) => rows.get(k) !== 1);
    report('two-processes', {
      requests_sent: answers.length,
      distinct_conversions: conversions.size,
      ok_answered: oks.length,
      duplicate_answered: dups.length,
      by_status: byStatus(answers),
      rows_found: [...rows.values()].reduce((a, b) => a + b, 0),
      duplicates,
      conversions_without_exactly_one_row: notOnce.length,
    });
    expect(byStatus(answers)).toEqual({ 200: jobs.length });
    expect(oks.length).toBe(conversions.size);
    expect([...okPerConversion.values()].every((c) => c === 1)).toBe(true);
    expect(duplicates).toBe(0);
    expect(notOnce).toEqual([]);
    expect(rows.size).toBe(conversions.size);
  });
});
