import { randomUUID } from 'node:crypto';
import { ApiClient, conversionBody, Fixture, makeClick } from './api-client';
import { ADMIN_KEY } from './test-app';

/** Records a conversion through the public path and returns its id. */
export async function makeConversion(
  api: ApiClient,
  f: Fixture,
  clickId: string,
  extra: Record<string, unknown> = {},
  headers?: Record<string, string>,
): Promise<string> {
  const r = await api.post('/api/conversion', conversionBody(clickId, extra), f.partnerKey, headers);
  expect(r.status).toBe(200);
  expect(r.body.status).toBe('ok');
  return r.body.conversion_id;
}

/** A fresh key of a role, made through the admin API. */
export async function makeKey(
  api: ApiClient,
  role: 'support' | 'admin' | 'ingest',
): Promise<{ id: string; key: string }> {
  const r = await api.post('/admin/keys', { role, name: `${role}-${randomUUID().slice(0, 6)}` }, ADMIN_KEY);
  expect(r.status).toBe(201);
  return { id: r.body.id, key: r.body.key };
}

/** A time window nobody else's rows fall in (the PostgreSQL test database is shared by runs). */
export function uniqueWindow(): { base: number; from: string; to: string } {
  const year = 2200 + Math.floor(Math.random() * 700);
  const base = Date.UTC(year, Math.floor(Math.random() * 12), 1 + Math.floor(Math.random() * 27));
  return { base, from: new Date(base - 86_400_000).toISOString(), to: new Date(base + 86_400_000).toISOString() };
}

export { makeClick };

/** A small RFC 4180 parser, to check what the CSV export wrote. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      if (c === '"' || c === '\n' || c === '\r') throw new Error(`unquoted ${JSON.stringify(c)} at ${i}`);
      field += c;
      i++;
    }
  }
  if (field !== '' || row.length) throw new Error('CSV does not end with CRLF');
  return rows;
}
