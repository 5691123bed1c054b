import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ConversionsRepository } from '../src/modules/conversions/conversions.repository';
import { ConversionsService } from '../src/modules/conversions/conversions.service';
import { MetricsService } from '../src/modules/observability/metrics.service';
import { ApiClient, conversionBody, Fixture, makeClick, makePartner, SEED_TIME_WARNING } from './api-client';
import { conversionRows, countConversions } from './db';
import { ServiceProcess } from './service-process';
import { ADMIN_KEY, createTestApp, onPostgres, TestApp } from './test-app';

/*
 * POST /api/conversions/batch: up to 1,000 conversions, each answered as POST /api/conversion
 * would answer it alone, in request order. (test/conversion-batch.e2e.spec.ts is about the group
 * commit of concurrent single requests, not this route.)
 */
describe('POST /api/conversions/batch (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;
  let other: Fixture;
  let ds: DataSource;

  beforeAll(async () => {
    t = await createTestApp();
    api = new ApiClient(t.app);
    ds = t.app.get(DataSource);
    f = await makePartner(api);
    other = await makePartner(api);
  });
  afterAll(() => t.close());
  afterEach(() => jest.restoreAllMocks());

  const batch = (conversions: unknown, key = f.partnerKey, headers?: Record<string, string>) =>
    api.post('/api/conversions/batch', { conversions }, key, headers);

  const p = (n: number) => (ds.options.type === 'postgres' ? `$${n}` : '?');
  const rowsById = async (ids: string[]): Promise<Record<string, unknown>[]> =>
    ids.length
      ? ds.query(`SELECT * FROM conversions WHERE id IN (${ids.map((_, i) => p(i + 1)).join(', ')})`, ids)
      : [];
  const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

  describe('whole-request errors', () => {
    it('401 without a key, 401 for an unknown key, 403 for other roles', async () => {
      const none = await api.post('/api/conversions/batch', { conversions: [conversionBody('c')] });
      expect(none.status).toBe(401);
      expect(none.body).toEqual({ detail: 'Missing bearer token' });
      expect(none.headers['www-authenticate']).toBe('Bearer');
      const unknown = await batch([conversionBody('c')], 'thr_pk_not-a-key');
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual({ detail: 'Invalid API key' });
      for (const key of [f.ingestKey, ADMIN_KEY]) {
        const r = await batch([conversionBody('c')], key);
        expect(r.status).toBe(403);
        expect(r.body).toEqual({ detail: 'This API key may not call this endpoint' });
      }
    });

    it('malformed JSON is 422 json_invalid', async () => {
      const r = await api.request('POST', '/api/conversions/batch', { key: f.partnerKey, raw: '{"conversions": [' });
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([expect.objectContaining({ type: 'json_invalid', msg: 'JSON decode error' })]);
    });

    it('a forbidden prototype key refuses its item alone (json_invalid at the item); outside the items, the request', async () => {
      const click = await makeClick(api, f);
      const good = JSON.stringify(conversionBody(click, { order_id: `proto-ok-${click}` }));
      const poisoned = [
        '{"__proto__":{"isAdmin":true},"click_id":"x"}',
        `{"click_id":"${click}","extra_key":{"__proto__":null}}`,
        '{"constructor":{"prototype":{"x":1}}}',
        // The same key spelled with an escape: JSON.parse decodes it to __proto__.
        '{"\\u005f_proto__":{"x":1}}',
      ];
      const r = await api.request('POST', '/api/conversions/batch', {
        key: f.partnerKey,
        raw: `{"conversions":[${good},${poisoned.join(',')}]}`,
      });
      expect(r.status).toBe(200);
      expect(r.body.counts).toEqual({ ok: 1, duplicate: 0, rejected: poisoned.length });
      expect(r.body.results[0]).toMatchObject({ index: 0, status: 'ok' });
      poisoned.forEach((_, k) =>
        expect(r.body.results[k + 1]).toEqual({
          index: k + 1,
          status: 'rejected',
          error: {
            status: 422,
            detail: [
              {
                type: 'json_invalid',
                loc: ['body', 'conversions', k + 1],
                msg: 'JSON decode error',
                input: {},
                ctx: { error: 'Object contains forbidden prototype property' },
              },
            ],
          },
        }),
      );
      expect(await rowsById([r.body.results[0].conversion_id])).toHaveLength(1);
      // The single route refuses the same body whole, as malformed JSON.
      const single = await api.request('POST', '/api/conversion', { key: f.partnerKey, raw: poisoned[1] });
      expect(single.status).toBe(422);
      expect(single.body.detail).toEqual([expect.objectContaining({ type: 'json_invalid' })]);
      // Outside the items (the envelope, or beside the list), the whole request is malformed JSON.
      for (const raw of [
        `{"__proto__":{"x":1},"conversions":[${good}]}`,
        `{"conversions":[${good}],"meta":{"__proto__":{"x":1}}}`,
        `{"conversions":[${good}],"constructor":{"prototype":{}}}`,
      ]) {
        const whole = await api.request('POST', '/api/conversions/batch', { key: f.partnerKey, raw });
        expect(whole.status).toBe(422);
        expect(whole.body.detail).toEqual([
          expect.objectContaining({
            type: 'json_invalid',
            ctx: { error: 'Object contains forbidden prototype property' },
          }),
        ]);
      }
    });

    it('a body that is not an object, a missing or non-list `conversions`, an empty list: 422', async () => {
      const notObject = await api.post('/api/conversions/batch', [1], f.partnerKey);
      expect(notObject.status).toBe(422);
      expect(notObject.body.detail).toEqual([
        expect.objectContaining({ type: 'model_attributes_type', loc: ['body'] }),
      ]);
      const noBody = await api.request('POST', '/api/conversions/batch', { key: f.partnerKey });
      expect(noBody.status).toBe(422);
      expect(noBody.body.detail).toEqual([expect.objectContaining({ type: 'missing', loc: ['body'] })]);
      const missing = await api.post('/api/conversions/batch', { items: [] }, f.partnerKey);
      expect(missing.status).toBe(422);
      expect(missing.body).toEqual({
        detail: [{ type: 'missing', loc: ['body', 'conversions'], msg: 'Field required', input: { items: [] } }],
      });
      for (const v of ['x', 1, {}, null]) {
        const r = await batch(v);
        expect(r.status).toBe(422);
        expect(r.body).toEqual({
          detail: [{ type: 'list_type', loc: ['body', 'conversions'], msg: 'Input should be a valid list', input: v }],
        });
      }
      const empty = await batch([]);
      expect(empty.status).toBe(422);
      expect(empty.body.detail).toEqual([
        expect.objectContaining({ type: 'too_short', loc: ['body', 'conversions'], ctx: expect.any(Object) }),
      ]);
    });

    it('more than 1,000 items: 422 at ["body","conversions"], nothing written', async () => {
      const click = await makeClick(api, f);
      const before = await countConversions(t);
      const r = await batch(Array.from({ length: 1001 }, (_, i) => conversionBody(click, { order_id: `o-${i}` })));
      expect(r.status).toBe(422);
      expect(r.body.detail).toEqual([
        expect.objectContaining({
          type: 'too_long',
          loc: ['body', 'conversions'],
          ctx: { field_type: 'List', max_length: 1000, actual_length: 1001 },
        }),
      ]);
      expect(await countConversions(t)).toBe(before);
    });

    it('the Idempotency-Key header is refused with a 422 saying so; nothing written', async () => {
      const click = await makeClick(api, f);
      const r = await batch([conversionBody(click)], f.partnerKey, { 'idempotency-key': 'order_123' });
      expect(r.status).toBe(422);
      expect(r.body).toEqual({
        detail: [
          {
            type: 'extra_forbidden',
            loc: ['header', 'idempotency-key'],
            msg: expect.stringContaining('idempotency_key'),
            input: 'order_123',
          },
        ],
      });
      expect(await conversionRows(t, click)).toHaveLength(0);
    });

    it('a body of exactly 1 MiB is accepted, one byte more is 413; other routes keep 64 KiB', async () => {
      const click = await makeClick(api, f);
      const base = JSON.stringify({ conversions: [conversionBody(click, { order_id: 'big', pad: '' })] });
      const exact = base.replace('"pad":""', `"pad":"${'p'.repeat(1024 * 1024 - base.length)}"`);
      expect(Buffer.byteLength(exact)).toBe(1024 * 1024);
      const ok = await api.request('POST', '/api/conversions/batch', { key: f.partnerKey, raw: exact });
      expect(ok.status).toBe(200);
      expect(ok.body.results).toEqual([
        { index: 0, status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING },
      ]);
      const over = await api.request('POST', '/api/conversions/batch', {
        key: f.partnerKey,
        raw: exact.replace('"pad":"', '"pad":"p'),
      });
      expect(over.status).toBe(413);
      expect(over.body).toEqual({ detail: expect.any(String) });
      const single = JSON.stringify(conversionBody(click, { pad: 'p'.repeat(64 * 1024) }));
      const r = await api.request('POST', '/api/conversion', { key: f.partnerKey, raw: single });
      expect(r.status).toBe(413);
    });
  });

  describe('per-item results', () => {
    it('answers every item as the single route would, in order, with loc prefixed by the item', async () => {
      const click = await makeClick(api, f);
      const noBid = await makeClick(api, f, { bid_id: null });
      const foreign = await makeClick(api, other);
      const earlier = await api.post('/api/conversion', conversionBody(click, { order_id: 'earlier' }), f.partnerKey);
      expect(earlier.body.status).toBe('ok');

      const r = await batch([
        conversionBody(click, { order_id: 'b-1', coupon: 'SPRING', nested: { a: [1, 2] } }),
        conversionBody(click, { order_id: 'earlier' }),
        conversionBody(`clk_${randomUUID()}`, { order_id: 'b-2' }),
        conversionBody(foreign, { order_id: 'b-3' }),
        conversionBody(noBid, { order_id: 'b-4' }),
        { click_id: click, conversion_time: '2026-05-26T12:34:56Z', conversion_value: 'abc' },
        conversionBody(click, { tag_id: other.tagId }),
        conversionBody(click, { order_id: 'nul\u0000' }),
        conversionBody(click, { idempotency_key: 'x'.repeat(256) }),
        'not an object',
        conversionBody(click, { idempotency_key: 'key-1', order_id: 'b-5' }),
        conversionBody(click, { idempotency_key: 'key-1', order_id: 'b-6' }),
        conversionBody(click, { event_id: 'e-1', event_type: 'lead_created' }),
      ]);
      expect(r.status).toBe(200);
      const ids = r.body.results.map((x: { conversion_id?: string }) => x.conversion_id);
      expect(r.body).toEqual({
        results: [
          { index: 0, status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING },
          {
            index: 1,
            status: 'duplicate',
            conversion_id: earlier.body.conversion_id,
            matched_on: 'order_id',
            ...SEED_TIME_WARNING,
          },
          { index: 2, status: 'rejected', error: { status: 404, detail: 'Click not found' } },
          { index: 3, status: 'rejected', error: { status: 404, detail: 'Click not found' } },
          { index: 4, status: 'rejected', error: { status: 400, detail: 'Click missing bid id' } },
          {
            index: 5,
            status: 'rejected',
            error: {
              status: 422,
              detail: [
                {
                  type: 'float_parsing',
                  loc: ['body', 'conversions', 5, 'conversion_value'],
                  msg: 'Input should be a valid number, unable to parse string as a number',
                  input: 'abc',
                },
                {
                  type: 'missing',
                  loc: ['body', 'conversions', 5, 'currency'],
                  msg: 'Field required',
                  input: { click_id: click, conversion_time: '2026-05-26T12:34:56Z', conversion_value: 'abc' },
                },
              ],
            },
          },
          {
            index: 6,
            status: 'rejected',
            error: {
              status: 422,
              detail: [expect.objectContaining({ type: 'value_error', loc: ['body', 'conversions', 6, 'tag_id'] })],
            },
          },
          {
            index: 7,
            status: 'rejected',
            error: {
              status: 422,
              detail: [
                expect.objectContaining({ type: 'string_unicode', loc: ['body', 'conversions', 7, 'order_id'] }),
              ],
            },
          },
          {
            index: 8,
            status: 'rejected',
            error: {
              status: 422,
              detail: [
                expect.objectContaining({
                  type: 'string_too_long',
                  loc: ['body', 'conversions', 8, 'idempotency_key'],
                  ctx: { max_length: 255 },
                }),
              ],
            },
          },
          {
            index: 9,
            status: 'rejected',
            error: {
              status: 422,
              detail: [
                {
                  type: 'model_attributes_type',
                  loc: ['body', 'conversions', 9],
                  msg: 'Input should be a valid dictionary or object to extract fields from',
                  input: 'not an object',
                },
              ],
            },
          },
          { index: 10, status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING },
          {
            index: 11,
            status: 'duplicate',
            conversion_id: ids[10],
            matched_on: 'idempotency_key',
            ...SEED_TIME_WARNING,
          },
          { index: 12, status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING },
        ],
        counts: { ok: 3, duplicate: 2, rejected: 8 },
      });
      // Exactly the ok items were written, with what each sent; idempotency_key is the dedup key, not an extra.
      const rows = await conversionRows(t, click);
      expect(rows.map((x) => x.id).sort()).toEqual([earlier.body.conversion_id, ids[0], ids[10], ids[12]].sort());
      const byId = new Map(rows.map((x) => [x.id, x]));
      expect(parse(byId.get(ids[0])!.params)).toEqual({ extra: { coupon: 'SPRING', nested: { a: [1, 2] } } });
      expect(byId.get(ids[10])).toMatchObject({ dedup_key: 'key-1', dedup_layer: 'idempotency_key', order_id: 'b-5' });
      expect(parse(byId.get(ids[10])!.params)).toEqual({ extra: {} });
      expect(byId.get(ids[12])).toMatchObject({ dedup_key: 'e-1', event_type: 'lead_created', source: 'api' });
      for (const c of [noBid, foreign]) expect(await conversionRows(t, c)).toHaveLength(0);
    });

    it('an item key retried in a later batch, or by the single route, is its duplicate (one key, all layers)', async () => {
      const click = await makeClick(api, f);
      const first = await batch([conversionBody(click, { idempotency_key: 'order_9' })]);
      expect(first.body.results[0].status).toBe('ok');
      const again = await batch([conversionBody(click, { order_id: 'order_9' })]);
      expect(again.body.results[0]).toEqual({
        index: 0,
        status: 'duplicate',
        conversion_id: first.body.results[0].conversion_id,
        matched_on: 'order_id',
        ...SEED_TIME_WARNING,
      });
      const single = await api.post('/api/conversion', conversionBody(click), f.partnerKey, {
        'idempotency-key': 'order_9',
      });
      expect(single.body).toEqual({
        status: 'duplicate',
        conversion_id: first.body.results[0].conversion_id,
        matched_on: 'idempotency_key',
        ...SEED_TIME_WARNING,
      });
      expect(await conversionRows(t, click)).toHaveLength(1);
    });

    it('items of one key far apart (different statements of the group commit): the lowest index is ok', async () => {
      const clicks = await Promise.all(Array.from({ length: 3 }, () => makeClick(api, f)));
      // 600 items: 200 keys, each key at three indexes spread over the whole batch.
      const items = Array.from({ length: 600 }, (_, i) =>
        conversionBody(clicks[(i % 200) % 3], { event_id: `spread-${i % 200}`, conversion_value: i }),
      );
      const r = await batch(items);
      expect(r.status).toBe(200);
      expect(r.body.counts).toEqual({ ok: 200, duplicate: 400, rejected: 0 });
      for (let i = 0; i < 600; i++) {
        const first = r.body.results[i % 200];
        expect(r.body.results[i]).toEqual(
          i < 200
            ? { index: i, status: 'ok', conversion_id: expect.any(String), ...SEED_TIME_WARNING }
            : {
                index: i,
                status: 'duplicate',
                conversion_id: first.conversion_id,
                matched_on: 'event_id',
                // Its value (its index) differs from the first item's: a reused key with another payload.
                payload_mismatch: ['conversion_value'],
                ...SEED_TIME_WARNING,
              },
        );
      }
      const rows = await rowsById(r.body.results.slice(0, 200).map((x: { conversion_id: string }) => x.conversion_id));
      expect(rows).toHaveLength(200);
      // The stored row is the first item's (its value is its index).
      for (const row of rows) {
        const i = r.body.results.findIndex((x: { conversion_id: string }) => x.conversion_id === row.id);
        expect(Number(row.conversion_value)).toBe(i);
      }
    });

    it('a key whose items land in two concurrent statements of the group commit: the lower index is ok', async () => {
      // On PostgreSQL two statements of up to 256 (PG_BATCH_MAX) run at once, each claiming its keys in
      // key order: here the later statement reaches the shared key first. The answer must not depend on that race.
      const PER_STATEMENT = 256;
      for (let round = 0; round < 5; round++) {
        const click = await makeClick(api, f);
        const items = Array.from({ length: 2 * PER_STATEMENT }, (_, i) => {
          const key = i % PER_STATEMENT === 0 ? 'k-m' : i < PER_STATEMENT ? `k-a-${i}` : `k-z-${i}`;
          return conversionBody(click, { idempotency_key: key, conversion_value: i });
        });
        const r = await batch(items);
        expect(r.status).toBe(200);
        expect(r.body.counts).toEqual({ ok: 2 * PER_STATEMENT - 1, duplicate: 1, rejected: 0 });
        expect(r.body.results[0]).toEqual({
          index: 0,
          status: 'ok',
          conversion_id: expect.any(String),
          ...SEED_TIME_WARNING,
        });
        expect(r.body.results[PER_STATEMENT]).toEqual({
          index: PER_STATEMENT,
          status: 'duplicate',
          conversion_id: r.body.results[0].conversion_id,
          matched_on: 'idempotency_key',
          payload_mismatch: ['conversion_value'],
          ...SEED_TIME_WARNING,
        });
        const [row] = (await conversionRows(t, click)).filter((x) => x.dedup_key === 'k-m');
        expect(Number(row.conversion_value)).toBe(0);
      }
    });

    it("one item's row-level database failure is that item's answer alone", async () => {
      const click = await makeClick(api, f);
      const service = t.app.get(ConversionsService);
      const original = service.record.bind(service);
      jest.spyOn(service, 'record').mockImplementation(async (ctx, body, ...rest) => {
        if (body.order_id === 'boom') throw Object.assign(new Error('value too long'), { code: '22001' });
        return original(ctx, body, ...rest);
      });
      const r = await batch([
        conversionBody(click, { order_id: 'fine-1' }),
        conversionBody(click, { order_id: 'boom' }),
        conversionBody(click, { order_id: 'fine-2' }),
      ]);
      expect(r.status).toBe(200);
      expect(r.body.results.map((x: { status: string }) => x.status)).toEqual(['ok', 'rejected', 'ok']);
      // A data exception (SQLSTATE class 22) is the class-22 backstop's 422, at this item's location.
      expect(r.body.results[1].error).toEqual({
        status: 422,
        detail: [expect.objectContaining({ type: 'value_error', loc: ['body', 'conversions', 1] })],
      });
      expect((await conversionRows(t, click)).map((x) => x.order_id).sort()).toEqual(['fine-1', 'fine-2']);
    });

    it('a database outage answers the whole request 503 + Retry-After, nothing written', async () => {
      const click = await makeClick(api, f);
      const repo = t.app.get(ConversionsRepository);
      jest
        .spyOn(repo, 'recordAtomically')
        .mockRejectedValue(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
      const r = await batch([
        conversionBody(click, { order_id: 'down-1' }),
        conversionBody(click, { order_id: 'down-2' }),
        { click_id: click },
      ]);
      expect(r.status).toBe(503);
      expect(r.body).toEqual({ detail: 'Service temporarily unavailable, retry later' });
      expect(r.headers['retry-after']).toEqual(expect.any(String));
      jest.restoreAllMocks();
      expect(await conversionRows(t, click)).toHaveLength(0);
    });

    it('counts every item in conversions_total by outcome, with source "batch"', async () => {
      const click = await makeClick(api, f);
      const metrics = t.app.get(MetricsService);
      const count = async (outcome: string) => {
        const m = new RegExp(`conversions_total\\{outcome="${outcome}",source="batch"\\} (\\d+)`).exec(
          await metrics.render(),
        );
        return m ? Number(m[1]) : 0;
      };
      const before = { ok: await count('ok'), dup: await count('duplicate'), nf: await count('click_not_found') };
      const before422 = await count('validation');
      await batch([
        conversionBody(click, { order_id: 'm-1' }),
        conversionBody(click, { order_id: 'm-1' }),
        conversionBody('clk_missing'),
        conversionBody('clk_missing'),
        {},
      ]);
      expect(await count('ok')).toBe(before.ok + 1);
      expect(await count('duplicate')).toBe(before.dup + 1);
      expect(await count('click_not_found')).toBe(before.nf + 2);
      expect(await count('validation')).toBe(before422 + 1);
    });
  });

  it('a batch of 1,000 mixed items, checked against the database item by item', async () => {
    const clicks = await Promise.all(Array.from({ length: 5 }, () => makeClick(api, f)));
    const noBid = await makeClick(api, f, { bid_id: null });
    const foreign = await makeClick(api, other);
    const prior = await api.post('/api/conversion', conversionBody(clicks[0], { order_id: 'prior' }), f.partnerKey);
    type Want = { status: string; code?: number; dupOf?: number | 'prior' };
    const items: unknown[] = [];
    const want: Want[] = [];
    const firstOfKey = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const kind = i % 10;
      const click = clicks[i % 5];
      if (kind <= 4) {
        // a key repeated now and then inside the batch
        const key = `mix-${i % 7 === 0 ? 'rep' + (i % 3) : i}`;
        items.push(conversionBody(click, { idempotency_key: key, conversion_value: i }));
        const k = `${key}|${click}`;
        if (firstOfKey.has(k)) want.push({ status: 'duplicate', dupOf: firstOfKey.get(k) });
        else {
          firstOfKey.set(k, i);
          want.push({ status: 'ok' });
        }
      } else if (kind === 5) {
        items.push(conversionBody(click, { conversion_value: i })); // keyless: always a row
        want.push({ status: 'ok' });
      } else if (kind === 6) {
        items.push(conversionBody(i % 20 === 6 ? noBid : foreign, { order_id: `x-${i}` }));
        want.push({ status: 'rejected', code: i % 20 === 6 ? 400 : 404 });
      } else if (kind === 7) {
        items.push({ ...conversionBody(click), currency: 'ZZZ' });
        want.push({ status: 'rejected', code: 422 });
      } else if (kind === 8 && i % 5 === 3) {
        items.push(conversionBody(clicks[0], { order_id: 'prior' }));
        want.push({ status: 'duplicate', dupOf: 'prior' });
      } else {
        items.push(conversionBody(`clk_unknown_${i}`));
        want.push({ status: 'rejected', code: 404 });
      }
    }
    const before = await countConversions(t);
    const r = await batch(items);
    expect(r.status).toBe(200);
    expect(r.body.results).toHaveLength(1000);
    const results = r.body.results as {
      index: number;
      status: string;
      conversion_id?: string;
      error?: { status: number; detail: unknown };
    }[];
    results.forEach((res, i) => {
      expect(res.index).toBe(i);
      expect(res.status).toBe(want[i].status);
      if (want[i].status === 'rejected') expect(res.error!.status).toBe(want[i].code);
      if (want[i].code === 422)
        expect(res.error!.detail).toEqual([expect.objectContaining({ loc: ['body', 'conversions', i, 'currency'] })]);
      const d = want[i].dupOf;
      if (d !== undefined)
        expect(res.conversion_id).toBe(d === 'prior' ? prior.body.conversion_id : results[d].conversion_id);
    });
    const okIds = results.filter((x) => x.status === 'ok').map((x) => x.conversion_id!);
    expect(r.body.counts).toEqual({
      ok: okIds.length,
      duplicate: want.filter((w) => w.status === 'duplicate').length,
      rejected: want.filter((w) => w.status === 'rejected').length,
    });
    expect(await countConversions(t)).toBe(before + okIds.length);
    const rows = new Map((await rowsById(okIds)).map((row) => [row.id, row]));
    results.forEach((res, i) => {
      if (res.status !== 'ok') return;
      const row = rows.get(res.conversion_id!)!;
      const item = items[i] as Record<string, unknown>;
      expect(row).toMatchObject({ click_id: item.click_id, partner_id: f.partnerId, currency: 'USD' });
      expect(Number(row.conversion_value)).toBe(i);
      expect(row.dedup_key).toBe((item.idempotency_key as string | undefined) ?? null);
    });
  }, 30_000);

  it('property: random batches answer in order, counts add up, rows are exactly the ok items', async () => {
    const click = await makeClick(api, f);
    const noBid = await makeClick(api, f, { bid_id: null });
    let run = 0;
    const item = fc.oneof(
      fc.record({
        k: fc.constant('new' as const),
        key: fc.option(fc.integer({ min: 0, max: 15 }), { nil: undefined }),
      }),
      fc.record({ k: fc.constantFrom('unknown' as const, 'nobid' as const, 'invalid' as const, 'weird' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 40 }), async (spec) => {
        run++;
        const body = spec.map((s) => {
          if (s.k === 'new')
            return conversionBody(click, s.key === undefined ? {} : { event_id: `prop-${run}-${s.key}` });
          if (s.k === 'unknown') return conversionBody('clk_nope');
          if (s.k === 'nobid') return conversionBody(noBid, { order_id: `nb-${run}` });
          if (s.k === 'invalid') return { click_id: click, conversion_value: NaN };
          return [1, 2];
        });
        const before = await countConversions(t);
        const r = await batch(body);
        expect(r.status).toBe(200);
        const results = r.body.results as { index: number; status: string; conversion_id?: string }[];
        expect(results.map((x) => x.index)).toEqual(spec.map((_, i) => i));
        const c = r.body.counts;
        expect(c.ok + c.duplicate + c.rejected).toBe(spec.length);
        const seen = new Set<number>();
        spec.forEach((s, i) => {
          const expected = s.k !== 'new' ? 'rejected' : s.key === undefined || !seen.has(s.key) ? 'ok' : 'duplicate';
          if (s.k === 'new' && s.key !== undefined) seen.add(s.key);
          expect(results[i].status).toBe(expected);
        });
        const ok = results.filter((x) => x.status === 'ok').map((x) => x.conversion_id!);
        expect(c.ok).toBe(ok.length);
        expect(await countConversions(t)).toBe(before + ok.length);
        expect((await rowsById(ok)).map((x) => x.id).sort()).toEqual([...ok].sort());
      }),
      { numRuns: 15 },
    );
  }, 30_000);

  it('property: an item is refused exactly as the single route refuses the same body (loc prefixed)', async () => {
    const nasty = fc.oneof(
      fc.constantFrom('', 'NaN', '1e309', '\u0000', '\ud800', 'x'.repeat(300), '2026-02-30T00:00:00Z', 'usd', 'XXX'),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 1 }),
    );
    const field = <T>(good: fc.Arbitrary<T>) =>
      fc.option(fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: nasty }), { nil: undefined, freq: 8 });
    const body = fc.record(
      {
        click_id: field(fc.constant('CLICK')),
        conversion_time: field(fc.constant('2026-05-26T12:34:56Z')),
        conversion_value: field(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant('12.5'))),
        currency: field(fc.constantFrom('USD', 'eur')),
        event_type: field(fc.constantFrom('purchase_completed', 'lead_created')),
        order_id: field(fc.uuid()),
        tag_id: field(fc.constantFrom('TAG', 'OTHER_TAG')),
        page_url: field(fc.constant('https://shop.example.com/done')),
        extra_key: field(fc.jsonValue({ maxDepth: 1 })),
      },
      { requiredKeys: [] },
    );
    const item = fc.oneof(
      { weight: 9, arbitrary: body },
      { weight: 1, arbitrary: fc.oneof(fc.string(), fc.integer()) },
    );
    const before = await countConversions(t);
    await fc.assert(
      fc.asyncProperty(item, async (raw) => {
        // An unknown click: a body the single route accepts is its 404, so neither request writes.
        const value =
          typeof raw === 'object'
            ? Object.fromEntries(
                Object.entries(raw)
                  .filter(([, v]) => v !== undefined)
                  .map(([k, v]) => [
                    k,
                    v === 'CLICK' ? 'clk_unknown' : v === 'TAG' ? f.tagId : v === 'OTHER_TAG' ? other.tagId : v,
                  ]),
              )
            : raw;
        const single = await api.post('/api/conversion', value, f.partnerKey);
        const r = await batch([value]);
        expect(r.status).toBe(200);
        // A forbidden prototype key: the single route's malformed JSON is at a text position; the
        // batch's is at the item (see "a forbidden prototype key refuses its item alone").
        const detail = Array.isArray(single.body.detail)
          ? single.body.detail.map((i: { type: string; loc: unknown[] }) => ({
              ...i,
              loc: ['body', 'conversions', 0, ...(i.type === 'json_invalid' ? [] : i.loc.slice(1))],
            }))
          : single.body.detail;
        expect(r.body.results).toEqual([{ index: 0, status: 'rejected', error: { status: single.status, detail } }]);
      }),
      { numRuns: 60 },
    );
    expect(await countConversions(t)).toBe(before);
  }, 30_000);

  describe('the same batch sent from two service processes at once', () => {
    let a: ServiceProcess;
    let b: ServiceProcess;

    beforeAll(async () => {
      const env = onPostgres ? { DATABASE_URL: t.config.databaseUrl } : { SQLITE_PATH: t.config.sqlitePath };
      // One after the other: on a loaded machine two boots at once can outlast ServiceProcess's deadline.
      a = await ServiceProcess.start(env);
      b = await ServiceProcess.start(env);
    }, 90_000);
    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('one row per key; each item ok in one answer and its duplicate in the other', async () => {
      const clicks = await Promise.all(Array.from({ length: 4 }, () => makeClick(api, f)));
      const items = Array.from({ length: 300 }, (_, i) =>
        conversionBody(clicks[i % 4], { idempotency_key: `two-${i}`, conversion_value: i }),
      );
      const send = async (svc: ServiceProcess) => {
        const r = await fetch(`${svc.url}/api/conversions/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${f.partnerKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ conversions: items }),
        });
        return { status: r.status, body: (await r.json()) as { results: { status: string; conversion_id: string }[] } };
      };
      const [ra, rb] = await Promise.all([send(a), send(b)]);
      expect([ra.status, rb.status]).toEqual([200, 200]);
      for (let i = 0; i < items.length; i++) {
        const pair = [ra.body.results[i], rb.body.results[i]];
        expect(pair.map((x) => x.status).sort()).toEqual(['duplicate', 'ok']);
        expect(pair[0].conversion_id).toBe(pair[1].conversion_id);
      }
      const rows = (await Promise.all(clicks.map((c) => conversionRows(t, c)))).flat();
      expect(rows).toHaveLength(300);
      expect(new Set(rows.map((x) => x.dedup_key)).size).toBe(300);
    }, 30_000);
  });
});
