import { ColumnOptions, getMetadataArgsStorage } from 'typeorm';

/**
 * Entities are written once for both drivers. Column types that exist on only one driver are
 * declared with their PostgreSQL type and mapped here for SQLite when the DataSource is built:
 *   timestamptz   -> datetime      (better-sqlite3 refuses timestamptz)
 *   numeric(p,s)  -> varchar(40)   (SQLite's NUMERIC affinity would store money as a float;
 *                                   the canonical decimal string is stored instead)
 */
export type DbKind = 'postgres' | 'sqlite';

export const TIMESTAMP: ColumnOptions = { type: 'timestamptz' };
export const MONEY: ColumnOptions = { type: 'numeric', precision: 20, scale: 6 };

/**
 * Indexes that serve the admin listings at PostgreSQL scale (1M+ rows). The embedded SQLite store
 * does without them: every insert maintains every index, and on SQLite that work runs inside the
 * service's own process, on the conversion hot path. Migrations create them on PostgreSQL only.
 */
export const POSTGRES_ONLY_INDEXES = new Set([
  'IDX_conversions_time',
  'IDX_conversions_tag_time',
  'IDX_conversions_event_time',
  'IDX_conversions_partner_event_time',
  'IDX_conversions_partner_source_time',
]);

export function adaptColumnTypes(kind: DbKind, entities: Function[]): void {
  if (kind !== 'sqlite') return;
  const indices = getMetadataArgsStorage().indices;
  for (let i = indices.length - 1; i >= 0; i--) {
    if (indices[i].name && POSTGRES_ONLY_INDEXES.has(indices[i].name!)) indices.splice(i, 1);
    // SQLite has btrees only (TypeORM refuses an index `type` there): a PostgreSQL hash index is a btree on SQLite.
    else if (indices[i].type) delete indices[i].type;
  }
  for (const col of getMetadataArgsStorage().columns) {
    if (!entities.includes(col.target as Function)) continue;
    const opts = col.options as ColumnOptions & { __adapted?: boolean };
    if (opts.__adapted) continue;
    if (opts.type === 'timestamptz') {
      opts.type = 'datetime';
    } else if (opts.type === 'numeric') {
      opts.type = 'varchar';
      opts.length = 40;
      delete opts.precision;
      delete opts.scale;
    }
    opts.__adapted = true;
  }
}

/** Per-driver timestamp type for migrations (an explicit driver check, as the house style asks). */
export function migrationTypes(kind: DbKind) {
  return { timestamp: kind === 'postgres' ? 'timestamptz' : 'datetime' };
}

/** Formats a Date the way TypeORM stores it on SQLite, for the raw SQL on the hot path. */
export function sqliteTime(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** Reads a timestamp from a raw query row: a Date on PostgreSQL, UTC text on SQLite. */
export function fromDbTime(v: unknown): Date | null {
  if (v == null) return null;
  if (v instanceof Date) return v;
  const s = String(v);
  return new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(s) ? s : s.replace(' ', 'T') + 'Z');
}
