/**
 * The typed client of this service: the generated types (`schema.d.ts`, from openapi.json by
 * openapi-typescript: `npm run client`) driven by openapi-fetch, with what a caller should not
 * have to write by hand:
 * - the API key as `Authorization: Bearer …` on every request;
 * - a dedup key on every conversion write (see `postConversion` and `postConversionBatch`);
 * - retries of 429 and 503 answers (nothing was done), waiting what `Retry-After` says (plus
 *   jitter, never less), with exponential backoff when it says nothing, a bounded number of times;
 *   the request is sent again byte for byte, so a write keeps its idempotency key across retries;
 * - typed per-item batch results (`BatchItemResult`: accepted or rejected, discriminated on status).
 *
 * Runs in Node (18+) and in the browser (the support console is built on it): it needs only fetch.
 */
import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, paths } from './schema';
export type Schemas = components['schemas'];
export type ConversionBody = Schemas['ConversionBodyDto'];
export type ConversionResult = Schemas['ConversionResultDto'];
export type BatchItem = Schemas['ConversionBatchItemDto'];
export type BatchItemError = Schemas['ConversionBatchErrorDto'];

type RawBatchResult = Schemas['ConversionBatchResultDto'];
/** A batch item recorded (`ok`) or found already recorded (`duplicate`): the single route's answer, with its index. */
export type BatchItemAccepted = Omit<RawBatchResult, 'status' | 'error'> & {
  status: 'ok' | 'duplicate';
  error?: never;
};
/** A batch item refused with the single route's status and `detail`; a 503 one may be sent again. */
export type BatchItemRejected = Pick<RawBatchResult, 'index' | 'validate_only'> & {
  status: 'rejected';
  error: BatchItemError;
};
export type BatchItemResult = BatchItemAccepted | BatchItemRejected;
export interface BatchResponse {
  results: BatchItemResult[];
  counts: Schemas['ConversionBatchCountsDto'];
  validate_only?: true;
}

export interface RetryOptions {
  /** Attempts in all, the first included (default 4; 1 switches retries off). */
  attempts?: number;
  /** Backoff when the answer has no Retry-After: base × 2^(retry-1), default 250 ms. */
  baseDelayMs?: number;
  /** The longest wait; a Retry-After asking for more is not waited for: the answer is returned (default 30 s). */
  maxDelayMs?: number;
  /** Up to this fraction is added at random to every wait, so clients told the same Retry-After spread out (default 0.2). */
  jitter?: number;
}

export interface ThradClientOptions {
  /** The service's origin, e.g. `http://localhost:3000`; '' in a page served by the service. */
  baseUrl: string;
  /** The API key, or a function answering the current one (the console's sign-in). */
  apiKey?: string | (() => string | undefined);
  retry?: RetryOptions;
  /** For tests: the fetch to call, the wait, the randomness, the key generator. */
  fetch?: (input: Request) => Promise<Response>;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  newKey?: () => string;
}

export interface WriteOptions {
  /** Sent as the Idempotency-Key header; generated when absent and the body has no event_id or order_id. */
  idempotencyKey?: string;
  validateOnly?: boolean;
}

/** Answers that mean "nothing was done, try again later". */
const RETRYABLE_STATUS = new Set([429, 503]);
/** Writes that carry a dedup key, so resending one after a lost answer cannot record it twice. */
const KEYED_WRITES = new Set(['/api/conversion', '/api/conversions/batch']);

/** Retry-After in ms: delta-seconds or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A random v4 UUID; crypto.randomUUID exists only in secure contexts (https, localhost), getRandomValues everywhere. */
export function randomKey(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A body's dedup key is the Idempotency-Key, else event_id, else order_id: a natural one must not be overridden. */
function hasNaturalKey(body: { event_id?: string | null; order_id?: string | null }): boolean {
  return !!body.event_id || !!body.order_id;
}

/** fetch with the retry policy above. Every attempt sends a clone of the same Request (same headers, same body). */
export function retryingFetch(
  base: (input: Request) => Promise<Response>,
  opts: RetryOptions & { sleep?: (ms: number) => Promise<void>; random?: () => number } = {},
): (input: Request) => Promise<Response> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const baseDelay = opts.baseDelayMs ?? 250;
  const maxDelay = opts.maxDelayMs ?? 30_000;
  const jitter = opts.jitter ?? 0.2;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = opts.random ?? Math.random;
  return async (request: Request) => {
    const method = request.method.toUpperCase();
    const resendableAfterNetworkError =
      method === 'GET' || method === 'HEAD' || KEYED_WRITES.has(new URL(request.url).pathname);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      let response: Response;
      try {
        response = await base(last ? request : request.clone());
      } catch (e) {
        if (last || !resendableAfterNetworkError) throw e;
        await sleep(Math.min(maxDelay, baseDelay * 2 ** (attempt - 1)) * (1 + jitter * random()));
        continue;
      }
      if (last || !RETRYABLE_STATUS.has(response.status)) return response;
      const told = retryAfterMs(response.headers.get('retry-after'));
      if (told !== null && told > maxDelay) return response;
      const wait = told ?? Math.min(maxDelay, baseDelay * 2 ** (attempt - 1));
      await response.body?.cancel().catch(() => undefined);
      await sleep(wait * (1 + jitter * random()));
    }
  };
}

export type ThradClient = ReturnType<typeof createThradClient>;

export function createThradClient(opts: ThradClientOptions) {
  const base = opts.fetch ?? ((input: Request) => globalThis.fetch(input));
  const newKey = opts.newKey ?? randomKey;
  const api = createClient<paths>({
    baseUrl: opts.baseUrl,
    fetch: retryingFetch(base, { ...opts.retry, sleep: opts.sleep, random: opts.random }),
  });
  api.use({
    onRequest({ request }) {
      const key = typeof opts.apiKey === 'function' ? opts.apiKey() : opts.apiKey;
      if (key && !request.headers.has('authorization')) request.headers.set('Authorization', `Bearer ${key}`);
      return request;
    },
  });

  return {
    /** The generated client itself: every route of openapi.json, typed (`api.GET('/admin/explain', …)`). */
    api,

    /**
     * POST /api/conversion. The Idempotency-Key is `idempotencyKey`, else (when the body has no
     * event_id or order_id, which would otherwise be its dedup key) a fresh UUID, kept across retries.
     */
    async postConversion(body: ConversionBody, o: WriteOptions = {}) {
      const idempotencyKey = o.idempotencyKey ?? (hasNaturalKey(body) ? undefined : newKey());
      const res = await api.POST('/api/conversion', {
        body,
        params: {
          header: idempotencyKey === undefined ? undefined : { 'Idempotency-Key': idempotencyKey },
          query: o.validateOnly ? { validate_only: true } : undefined,
        },
      });
      return { ...res, idempotencyKey };
    },

    /**
     * POST /api/conversions/batch. Each item without `idempotency_key`, event_id or order_id gets a
     * fresh UUID as its `idempotency_key`; `items` are the items as sent (resend a 503 item as is).
     */
    async postConversionBatch(conversions: BatchItem[], o: Pick<WriteOptions, 'validateOnly'> = {}) {
      const items = conversions.map((c) =>
        c.idempotency_key != null || hasNaturalKey(c) ? c : { ...c, idempotency_key: newKey() },
      );
      const res = await api.POST('/api/conversions/batch', {
        body: { conversions: items },
        params: { query: o.validateOnly ? { validate_only: true } : undefined },
      });
      return { ...res, data: res.data as BatchResponse | undefined, items };
    },
  };
}
