import { randomUUID } from 'node:crypto';
import { conversionBody as seedBody, makeClick } from './api-client';

/** A conversion timed now, after its click (registered now): no attribution-time warning in the answers. */
const conversionBody = (clickId: string, extra: Record<string, unknown> = {}) =>
  seedBody(clickId, { conversion_time: new Date().toISOString(), ...extra });
import { db } from './db';
import { ADMIN_KEY, useTestApp } from './test-app';
import { AttemptsRecorder } from '../src/modules/attempts/attempts.recorder';

/*
 * `?validate_only=true` on POST /api/conversion and POST /api/conversions/batch: every check runs
 * (auth, body, click, bid, whether the dedup key is already held), the answer is the real one plus
 * `"validate_only": true`, and nothing is written: not a row, not a dedup claim.
 */
describe('validate-only (e2e)', () => {
  // No webhook delivery in this app: on a shared database, another spec's pending messages would be
  // retried here and change the tables these tests prove validate-only leaves untouched.
  const { t, api, partners } = useTestApp({ partners: 2, env: { WEBHOOK_DISPATCHER: 'off' } });
  const [f, other] = partners;

  const single = (body: unknown, query = 'validate_only=true', headers?: Record<string, string>) =>
    api.post(`/api/conversion${query ? `?${query}` : ''}`, body, f.partnerKey, headers);
  const batch = (conversions: unknown, query = 'validate_only=true') =>
    api.post(`/api/conversions/batch${query ? `?${query}` : ''}`, { conversions }, f.partnerKey);

  /**
   * Every table's rows (the migrations' bookkeeping aside), sorted: what "nothing written" is checked on.
   * `conversion_attempts` is left out: a refused attempt is recorded on every path, validate-only
   * included (issue 14), in the background, so its rows land whenever the recorder flushes (on a slow
   * database, between two snapshots). What validate-only must not write is the conversion's data:
   * rows, claims, clicks, outbox. An accepted validate-only request records no attempt either: see
   * the last test.
   */
  async function snapshot(): Promise<Record<string, string[]>> {
    const ds = db(t);
    await t.app.get(AttemptsRecorder).flush();
    const tables: { name: string }[] =
      ds.options.type === 'postgres'
        ? await ds.query(
            `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
          )
        : await ds.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`);
    expect(tables.map((x) => x.name)).toEqual(expect.arrayContaining(['conversions', 'dedup_claims', 'clicks']));
    const out: Record<string, string[]> = {};
    for (const { name } of tables) {
      if (name === 'conversion_attempts') continue;
      const rows: unknown[] = await ds.query(`SELECT * FROM "${name}"`);
      out[name] = rows.map((r) => JSON.stringify(r)).sort();
    }
    return out;
  }

  const okItem = (clickId: string, key = `ord_${randomUUID()}`) => conversionBody(clickId, { order_id: key });

  describe('POST /api/conversion?validate_only=true', () => {
    it('runs the attribution-time checks too: a conversion before its click is flagged, nothing written', async () => {
      const click = await makeClick(api, f);
      const before = await snapshot();
      const v = await single(seedBody(click, { order_id: `ord_${randomUUID()}` }));
      expect(v.status).toBe(200);
      expect(v.body).toEqual({
        status: 'ok',
        validate_only: true,
        warnings: [expect.objectContaining({ code: 'precedes_click', clicked_at: expect.any(String) })],
      });
      expect(await snapshot()).toEqual(before);
    });

    it('ok: answers ok + validate_only without a conversion_id; then a real post is ok, and validate-only sees its claim', async () => {
      const click = await makeClick(api, f);
      const body = okItem(click);
      const before = await snapshot();
      const v = await single(body);
      expect(v.status).toBe(200);
      expect(v.body).toEqual({ status: 'ok', validate_only: true });
      expect(await snapshot()).toEqual(before);

      const real = await single(body, '');
      expect(real.status).toBe(200);
      expect(real.body).toEqual({ status: 'ok', conversion_id: expect.any(String) });

      const again = await single(body);
      expect(again.status).toBe(200);
      expect(again.body).toEqual({
        status: 'duplicate',
        conversion_id: real.body.conversion_id,
        matched_on: 'order_id',
        validate_only: true,
      });
      const viaHeader = await single(conversionBody(click), 'validate_only=1', {
        'Idempotency-Key': body.order_id as string,
      });
      expect(viaHeader.body).toEqual({
        status: 'duplicate',
        conversion_id: real.body.conversion_id,
        matched_on: 'idempotency_key',
        validate_only: true,
      });
    });

    it("404 for an unknown click and for another partner's click, 400 without a bid, 422 for a bad body: as without validate_only", async () => {
      const before = await snapshot();
      const unknown = await single(okItem('clk_nope'));
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ detail: 'Click not found' });
      const theirs = await single(okItem(await makeClick(api, other)));
      expect(theirs.status).toBe(404);
      expect(theirs.body).toEqual({ detail: 'Click not found' });
      const noBid = await single(okItem(await makeClick(api, f, { bid_id: null })));
      expect(noBid.status).toBe(400);
      expect(noBid.body).toEqual({ detail: 'Click missing bid id' });
      const bad = await single({ click_id: 'clk_x', conversion_time: '2026-05-26T12:34:56Z', conversion_value: 1 });
      expect(bad.status).toBe(422);
      expect(bad.body.detail).toEqual([expect.objectContaining({ type: 'missing', loc: ['body', 'currency'] })]);
      const tag = await single({ ...okItem(await makeClick(api, f)), tag_id: other.tagId });
      expect(tag.status).toBe(422);
      expect(tag.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'tag_id'] })]);
      // makeClick wrote clicks; nothing else changed.
      const after = await snapshot();
      expect(after.conversions).toEqual(before.conversions);
      expect(after.dedup_claims).toEqual(before.dedup_claims);
    });

    it('a claim past the dedup window is not held: validate-only says ok, as the real post that takes it over', async () => {
      const click = await makeClick(api, f);
      const body = okItem(click);
      expect((await single(body, '')).body.status).toBe('ok');
      expect((await single(body)).body.status).toBe('duplicate');
      t.clock.offsetMs += t.config.dedupWindowMs + 1000;
      try {
        const before = await snapshot();
        expect((await single(body)).body).toEqual({ status: 'ok', validate_only: true });
        expect(await snapshot()).toEqual(before);
        expect((await single(body, '')).body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
      } finally {
        t.clock.offsetMs = 0;
      }
    });

    it('401 / 403 come first, as without validate_only', async () => {
      const none = await api.post('/api/conversion?validate_only=true', okItem('clk_x'));
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ detail: 'Missing bearer token' });
      const wrongRole = await api.post('/api/conversion?validate_only=true', okItem('clk_x'), f.ingestKey);
      expect(wrongRole.status).toBe(403);
      const admin = await api.post('/api/conversion?validate_only=maybe', okItem('clk_x'), ADMIN_KEY);
      expect(admin.status).toBe(403);
    });

    it('validate_only takes true/false/1/0 (false writes); anything else is a 422 at ["query","validate_only"]', async () => {
      const click = await makeClick(api, f);
      for (const q of ['validate_only=TRUE', 'validate_only=1']) {
        expect((await single(okItem(click), q)).body).toEqual({ status: 'ok', validate_only: true });
      }
      for (const q of ['validate_only=false', 'validate_only=0']) {
        expect((await single(okItem(click), q)).body).toEqual({ status: 'ok', conversion_id: expect.any(String) });
      }
      const before = await snapshot();
      for (const q of [
        'validate_only=maybe',
        'validate_only=',
        'validate_only=2',
        'validate_only=true&validate_only=false',
      ]) {
        const r = await single(okItem(click), q);
        expect(r.status).toBe(422);
        expect(r.body.detail).toEqual([
          expect.objectContaining({ type: 'bool_parsing', loc: ['query', 'validate_only'] }),
        ]);
        const b = await batch([okItem(click)], q);
        expect(b.status).toBe(422);
        expect(b.body.detail).toEqual([
          expect.objectContaining({ type: 'bool_parsing', loc: ['query', 'validate_only'] }),
        ]);
      }
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('POST /api/conversions/batch?validate_only=true', () => {
    it('answers every outcome as the real batch would, plus validate_only per item and at the top; writes nothing', async () => {
      const click = await makeClick(api, f);
      const held = okItem(click);
      const real = await single(held, '');
      expect(real.body.status).toBe('ok');
      const noBid = await makeClick(api, f, { bid_id: null });
      const fresh = okItem(click);
      const items = [
        okItem(click),
        held,
        okItem('clk_nope'),
        okItem(noBid),
        { click_id: click, conversion_value: 1, currency: 'USD' },
        fresh,
        { ...fresh, conversion_value: 5 },
        conversionBody(click),
      ];
      const before = await snapshot();
      const r = await batch(items);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        results: [
          { index: 0, status: 'ok', validate_only: true },
          {
            index: 1,
            status: 'duplicate',
            conversion_id: real.body.conversion_id,
            matched_on: 'order_id',
            validate_only: true,
          },
          { index: 2, status: 'rejected', error: { status: 404, detail: 'Click not found' }, validate_only: true },
          { index: 3, status: 'rejected', error: { status: 400, detail: 'Click missing bid id' }, validate_only: true },
          {
            index: 4,
            status: 'rejected',
            error: {
              status: 422,
              detail: [
                expect.objectContaining({ type: 'missing', loc: ['body', 'conversions', 4, 'conversion_time'] }),
              ],
            },
            validate_only: true,
          },
          { index: 5, status: 'ok', validate_only: true },
          // The same key as item 5, which a real batch would have claimed: its duplicate (nothing written, no id).
          { index: 6, status: 'duplicate', matched_on: 'order_id', validate_only: true },
          { index: 7, status: 'ok', validate_only: true },
        ],
        counts: { ok: 3, duplicate: 2, rejected: 3 },
        validate_only: true,
      });
      expect(await snapshot()).toEqual(before);

      // The same batch for real: the same statuses, now written.
      const live = await batch(items, '');
      expect(live.status).toBe(200);
      expect(live.body.validate_only).toBeUndefined();
      expect(live.body.results.map((x: { status: string }) => x.status)).toEqual(
        r.body.results.map((x: { status: string }) => x.status),
      );
      expect(live.body.results[6].conversion_id).toBe(live.body.results[5].conversion_id);
      expect(live.body.counts).toEqual(r.body.counts);
    });

    it('a validate-only ok item, then the real batch: ok', async () => {
      const item = okItem(await makeClick(api, f));
      expect((await batch([item])).body.results).toEqual([{ index: 0, status: 'ok', validate_only: true }]);
      expect((await batch([item], 'validate_only=false')).body.results).toEqual([
        { index: 0, status: 'ok', conversion_id: expect.any(String) },
      ]);
    });

    it('whole-request errors stay what they are', async () => {
      const none = await api.post('/api/conversions/batch?validate_only=true', { conversions: [okItem('c')] });
      expect(none.status).toBe(401);
      const empty = await batch([]);
      expect(empty.status).toBe(422);
      expect(empty.body.detail).toEqual([expect.objectContaining({ loc: ['body', 'conversions'] })]);
    });
  });

  describe('metrics', () => {
    const metric = async (name: string, labels: Record<string, string>): Promise<number> => {
      const r = await api.request('GET', '/metrics', { key: ADMIN_KEY });
      expect(r.status).toBe(200);
      const text = typeof r.body === 'string' ? r.body : String(r.body);
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
      return line ? Number(line.split(' ').pop()) : 0;
    };

    it('counts validate-only outcomes apart (mode="validate_only"), never in conversions_total', async () => {
      const click = await makeClick(api, f);
      const VO = 'conversions_validate_only_total';
      const live = (outcome: string, source: string) => metric('conversions_total', { outcome, source });
      const vo = (outcome: string, source: string) => metric(VO, { outcome, source, mode: 'validate_only' });
      const before = {
        liveOk: await live('ok', 'api'),
        liveBatchOk: await live('ok', 'batch'),
        liveNotFound: await live('click_not_found', 'api'),
        ok: await vo('ok', 'api'),
        notFound: await vo('click_not_found', 'api'),
        batchOk: await vo('ok', 'batch'),
        batchNotFound: await vo('click_not_found', 'batch'),
      };
      await single(okItem(click));
      await single(okItem('clk_nope'));
      await batch([okItem(click), okItem(click), okItem('clk_nope')]);
      expect(await vo('ok', 'api')).toBe(before.ok + 1);
      expect(await vo('click_not_found', 'api')).toBe(before.notFound + 1);
      expect(await vo('ok', 'batch')).toBe(before.batchOk + 2);
      expect(await vo('click_not_found', 'batch')).toBe(before.batchNotFound + 1);
      expect(await live('ok', 'api')).toBe(before.liveOk);
      expect(await live('ok', 'batch')).toBe(before.liveBatchOk);
      expect(await live('click_not_found', 'api')).toBe(before.liveNotFound);
    });
  });
  it('an accepted validate-only request (ok or duplicate) records no attempt either', async () => {
    const recorder = t.app.get(AttemptsRecorder);
    const click = await makeClick(api, f);
    const body = okItem(click);
    await recorder.flush();
    const count = async () => {
      await recorder.flush();
      const [{ n }] = await db(t).query('SELECT COUNT(*) AS n FROM conversion_attempts');
      return Number(n);
    };
    const before = await count();
    expect((await single(body)).body).toEqual({ status: 'ok', validate_only: true });
    expect((await single(body, '')).body.status).toBe('ok');
    const afterReal = await count();
    expect((await single(body)).body).toMatchObject({ status: 'duplicate', validate_only: true });
    expect((await batch([body, okItem(click)])).status).toBe(200);
    expect(await count()).toBe(afterReal);
    expect(afterReal).toBe(before);
  });
});
