import { BatchItemResult, createThradClient, retryAfterMs } from './index';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fetch that answers from a script and keeps what it was sent. */
function fakeFetch(script: Array<() => Response>) {
  const seen: Seen[] = [];
  const fetch = async (req: Request): Promise<Response> => {
    seen.push({
      method: req.method,
      url: req.url,
      headers: Object.fromEntries(req.headers.entries()),
      body: await req.text(),
    });
    const next = script[Math.min(seen.length - 1, script.length - 1)];
    return next();
  };
  return { fetch, seen };
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  () =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const BODY = {
  click_id: 'clk_1',
  conversion_time: '2026-05-26T12:34:56Z',
  conversion_value: 9.5,
  currency: 'USD',
};

function make(script: Array<() => Response>, random = () => 0.5, retry = {}) {
  const f = fakeFetch(script);
  const waits: number[] = [];
  let n = 0;
  const c = createThradClient({
    baseUrl: 'http://thrad.test',
    apiKey: 'tk_partner',
    fetch: f.fetch,
    sleep: async (ms) => {
      waits.push(ms);
    },
    random,
    newKey: () => `gen-${++n}`,
    retry,
  });
  return { c, seen: f.seen, waits };
}

describe('typed client: retries', () => {
  it('waits what Retry-After says on a 429 (plus jitter, never less), then resends the same request: same Idempotency-Key, same body', async () => {
    const { c, seen, waits } = make([
      json(429, { detail: 'Too many requests' }, { 'retry-after': '2' }),
      json(200, { status: 'ok', conversion_id: 'c1' }),
    ]);
    const r = await c.postConversion(BODY);
    expect(r.data).toEqual({ status: 'ok', conversion_id: 'c1' });
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([2000 * 1.1]); // jitter 0.2 × random 0.5
    expect(seen[0].headers['idempotency-key']).toBe('gen-1');
    expect(seen[1].headers['idempotency-key']).toBe('gen-1');
    expect(r.idempotencyKey).toBe('gen-1');
    expect(seen[1].body).toBe(seen[0].body);
    expect(JSON.parse(seen[0].body)).toEqual(BODY);
    expect(seen.every((s) => s.headers.authorization === 'Bearer tk_partner')).toBe(true);
    expect(seen.every((s) => s.url === 'http://thrad.test/api/conversion' && s.method === 'POST')).toBe(true);
  });

  it('jitter only adds: with random 0 the wait is Retry-After exactly, with random ~1 at most +20%', async () => {
    const low = make([json(503, { detail: 'x' }, { 'retry-after': '3' }), json(200, { status: 'ok' })], () => 0);
    await low.c.postConversion(BODY);
    expect(low.waits).toEqual([3000]);
    const high = make([json(503, { detail: 'x' }, { 'retry-after': '3' }), json(200, { status: 'ok' })], () => 0.999);
    await high.c.postConversion(BODY);
    expect(high.waits[0]).toBeGreaterThan(3000);
    expect(high.waits[0]).toBeLessThan(3600);
  });

  it('a 503 without Retry-After backs off exponentially; attempts are bounded and the last answer is returned', async () => {
    const { c, seen, waits } = make([json(503, { detail: 'Service temporarily unavailable, retry later' })], () => 0, {
      attempts: 4,
      baseDelayMs: 100,
    });
    const r = await c.postConversion(BODY, { idempotencyKey: 'order-9' });
    expect(seen).toHaveLength(4);
    expect(waits).toEqual([100, 200, 400]);
    expect(r.response.status).toBe(503);
    expect(r.error).toEqual({ detail: 'Service temporarily unavailable, retry later' });
    expect(new Set(seen.map((s) => s.headers['idempotency-key']))).toEqual(new Set(['order-9']));
  });

  it('a Retry-After longer than maxDelayMs is not waited for: the 429 is the answer', async () => {
    const { c, seen, waits } = make([json(429, { detail: 'Too many requests' }, { 'retry-after': '3600' })]);
    const r = await c.postConversion(BODY);
    expect(r.response.status).toBe(429);
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('other errors are not retried (a 404 is an answer)', async () => {
    const { c, seen } = make([json(404, { detail: 'Click not found' })]);
    const r = await c.postConversion(BODY);
    expect(r.error).toEqual({ detail: 'Click not found' });
    expect(seen).toHaveLength(1);
  });

  it('a lost answer (network error) is resent for a keyed write, not for an admin write', async () => {
    let calls = 0;
    const flaky = async (req: Request) => {
      calls++;
      if (calls === 1) throw new TypeError('fetch failed');
      return json(200, { status: 'ok', conversion_id: 'c2', url: req.url })();
    };
    const c = createThradClient({ baseUrl: 'http://thrad.test', fetch: flaky, sleep: async () => {} });
    expect((await c.postConversion(BODY)).data?.status).toBe('ok');
    expect(calls).toBe(2);
    calls = 0;
    await expect(c.api.POST('/admin/partners', { body: { name: 'Acme' } })).rejects.toThrow('fetch failed');
    expect(calls).toBe(1);
  });

  it('Retry-After as an HTTP date', () => {
    const now = Date.parse('2026-05-26T12:00:00Z');
    expect(retryAfterMs('Tue, 26 May 2026 12:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });
});

describe('typed client: idempotency keys', () => {
  it('the caller’s key is sent as given; a body with event_id or order_id keeps its natural dedup key (no header)', async () => {
    const { c, seen } = make([json(200, { status: 'ok' })]);
    await c.postConversion(BODY, { idempotencyKey: 'mine' });
    await c.postConversion({ ...BODY, order_id: 'order_1' });
    await c.postConversion({ ...BODY, event_id: 'evt_1' });
    expect(seen.map((s) => s.headers['idempotency-key'])).toEqual(['mine', undefined, undefined]);
  });

  it('batch: each item without a key gets its own, the same on every retry; typed per-item results', async () => {
    const answer = {
      results: [
        { index: 0, status: 'ok', conversion_id: 'c1' },
        { index: 1, status: 'duplicate', conversion_id: 'c0', matched_on: 'order_id' },
        { index: 2, status: 'rejected', error: { status: 404, detail: 'Click not found' } },
      ],
      counts: { ok: 1, duplicate: 1, rejected: 1 },
    };
    const { c, seen, waits } = make([
      json(503, { detail: 'x' }, { 'retry-after': '1' }),
      json(429, { detail: 'y' }, { 'retry-after': '0' }),
      json(200, answer),
    ]);
    const r = await c.postConversionBatch([BODY, { ...BODY, order_id: 'o1' }, { ...BODY, idempotency_key: 'k3' }]);
    expect(seen).toHaveLength(3);
    expect(waits).toEqual([1100, 0]);
    const sent = seen.map((s) =>
      JSON.parse(s.body).conversions.map((i: { idempotency_key?: string }) => i.idempotency_key),
    );
    expect(sent).toEqual([
      ['gen-1', undefined, 'k3'],
      ['gen-1', undefined, 'k3'],
      ['gen-1', undefined, 'k3'],
    ]);
    expect(r.items.map((i) => i.idempotency_key)).toEqual(['gen-1', undefined, 'k3']);
    expect(seen[0].headers['idempotency-key']).toBeUndefined();
    const results: BatchItemResult[] = r.data!.results;
    const rejected = results.filter((x) => x.status === 'rejected');
    // Discriminated: a rejected item has its error, typed.
    expect(rejected.map((x) => x.error.status)).toEqual([404]);
    expect(results.filter((x) => x.status !== 'rejected').map((x) => x.conversion_id)).toEqual(['c1', 'c0']);
  });
});
