import { DataSource } from 'typeorm';
import type { TestApp } from './test-app';

/** Direct reads of what the service stored, for asserting on rows rather than responses. */
export function db(t: TestApp): DataSource {
  return t.app.get(DataSource);
}

export async function conversionRows(t: TestApp, clickId: string): Promise<Record<string, any>[]> {
  const ds = db(t);
  const p = ds.options.type === 'postgres' ? '$1' : '?';
  return ds.query(`SELECT * FROM conversions WHERE click_id = ${p} ORDER BY created_at`, [clickId]);
}

export async function countConversions(t: TestApp): Promise<number> {
  const [{ n }] = await db(t).query('SELECT COUNT(*) AS n FROM conversions');
  return Number(n);
}
