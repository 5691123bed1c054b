import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { ADMIN_KEY } from './test-app';

export interface Res {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Record<string, string | string[] | undefined>;
}

/** Speaks HTTP to the app through Fastify's inject, exactly as a client would. */
export class ApiClient {
  /** The app, or a getter for one booted later (useTestApp's client exists before its app). */
  constructor(private readonly target: NestFastifyApplication | (() => NestFastifyApplication)) {}

  private get app(): NestFastifyApplication {
    return typeof this.target === 'function' ? this.target() : this.target;
  }

  async request(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    url: string,
    opts: { key?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
  ): Promise<Res> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.key) headers.authorization = `Bearer ${opts.key}`;
    let payload: string | undefined;
    if (opts.raw !== undefined) payload = opts.raw;
    else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
    if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
    const res = await this.app.inject({ method, url, headers, payload });
    let body: unknown = res.body;
    try {
      body = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      /* not JSON */
    }
    return { status: res.statusCode, body, headers: res.headers as Res['headers'] };
  }

  post(url: string, body: unknown, key?: string, headers?: Record<string, string>) {
    return this.request('POST', url, { body, key, headers });
  }
}

export interface Fixture {
  partnerId: string;
  tagId: string;
  partnerKey: string;
  ingestKey: string;
}

/** A partner with one tag, a partner key and an ingest key, made through the admin API. */
export async function makePartner(
  api: ApiClient,
  name = `p-${randomUUID().slice(0, 8)}`,
  origins: string[] = ['https://shop.example.com'],
): Promise<Fixture> {
  const p = await api.post('/admin/partners', { name }, ADMIN_KEY);
  expect(p.status).toBe(201);
  const t = await api.post(`/admin/partners/${p.body.id}/tags`, { name: 'main', allowed_origins: origins }, ADMIN_KEY);
  expect(t.status).toBe(201);
  const pk = await api.post('/admin/keys', { role: 'partner', partner_id: p.body.id }, ADMIN_KEY);
  expect(pk.status).toBe(201);
  const ik = await api.post('/admin/keys', { role: 'ingest' }, ADMIN_KEY);
  expect(ik.status).toBe(201);
  return { partnerId: p.body.id, tagId: t.body.id, partnerKey: pk.body.key, ingestKey: ik.body.key };
}

/** Registers a click (with a bid unless bid_id is null) and returns its id. */
export async function makeClick(
  api: ApiClient,
  f: Fixture,
  opts: { bid_id?: string | null; click_id?: string } = {},
): Promise<string> {
  const body: Record<string, unknown> = { tag_id: f.tagId, click_id: opts.click_id ?? `clk_${randomUUID()}` };
  if (opts.bid_id !== null) body.bid_id = opts.bid_id ?? `bid_${randomUUID().slice(0, 8)}`;
  const r = await api.post('/api/clicks', body, f.ingestKey);
  expect(r.status).toBe(201);
  return r.body.click_id;
}

/**
 * What an answer adds for conversionBody's fixed time (the seed's 2026-05-26T12:34:56Z) on a click
 * registered today: the conversion precedes its click, so it is flagged, not refused (issue 12).
 */
export const SEED_TIME_WARNING = { warnings: [expect.objectContaining({ code: 'precedes_click' })] };

export function conversionBody(clickId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    click_id: clickId,
    conversion_time: '2026-05-26T12:34:56Z',
    conversion_value: 99.99,
    currency: 'USD',
    ...extra,
  };
}
