import type { DataSource } from 'typeorm';
import { DbKind, sqliteTime } from './column-types';

/*
 * The one place that knows the two drivers' internals and how their SQL differs: the pg Pool
 * behind TypeORM's PostgreSQL driver, the better-sqlite3 handle behind its SQLite driver, how a
 * time is passed as a parameter, and the keyset condition of the listings. Hot paths that bypass
 * TypeORM's query runner get the driver handles here, and nowhere else casts to driver internals.
 */

/** The part of pg's Pool that the service uses (queries, and the pool's figures for metrics). */
export interface PgPool {
  query(config: {
    name?: string;
    text: string;
    values: unknown[];
    rowMode?: 'array';
    types?: { getTypeParser: () => (v: string) => unknown };
  }): Promise<{ rows: unknown[] }>;
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options?: { max?: number };
}

/** The part of a better-sqlite3 Database that the service uses. */
export interface SqliteHandle {
  prepare(sql: string): SqliteStatement;
  /** Called inside another transaction, better-sqlite3 runs `fn` in a savepoint. */
  transaction<T>(fn: () => T): { (): T; immediate(): T };
  /** Whether a transaction (TypeORM's, on this one shared connection) is open. */
  readonly inTransaction: boolean;
}

export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * A statement parameter described once: its name, its PostgreSQL type and how it is read from a
 * row. Statements are generated from a list of these (see PgParams and sqliteParams), so none
 * depends on the order of a hand-kept list.
 */
export interface Param<T> {
  name: string;
  /** The PostgreSQL type the parameter is cast to (its array is `${pgType}[]`). */
  pgType: 'varchar' | 'bigint' | 'numeric' | 'timestamptz' | 'json';
  /** The value: a Date for timestamptz, any JSON value for json; encoded per driver by `encode`. */
  value(row: T): unknown;
}

export class Dialect {
  readonly kind: DbKind;

  constructor(private readonly ds: DataSource) {
    this.kind = ds.options.type === 'postgres' ? 'postgres' : 'sqlite';
  }

  get isPostgres(): boolean {
    return this.kind === 'postgres';
  }

  private citusProbe?: Promise<boolean>;

  /**
   * Whether the database is a Citus coordinator (the `citus` extension installed): asked once per
   * Dialect, on first use, and asked again after a failed probe. Never on SQLite.
   */
  isCitus(): Promise<boolean> {
    if (!this.isPostgres) return Promise.resolve(false);
    this.citusProbe ??= this.pgPool()
      .query({ text: `SELECT 1 FROM pg_extension WHERE extname = 'citus'`, values: [] })
      .then(
        (r) => r.rows.length > 0,
        (e: unknown) => {
          this.citusProbe = undefined;
          throw e;
        },
      );
    return this.citusProbe;
  }

  /** The pg Pool behind TypeORM's PostgreSQL driver (created at connect). */
  pgPool(): PgPool {
    const pool = (this.ds.driver as unknown as { master?: PgPool }).master;
    if (!pool) throw new Error('no PostgreSQL pool: the DataSource is not a connected PostgreSQL one');
    return pool;
  }

  /** The pool when on PostgreSQL and connected; undefined otherwise (for metrics). */
  pgPoolIfAny(): PgPool | undefined {
    return this.isPostgres ? (this.ds.driver as unknown as { master?: PgPool }).master : undefined;
  }

  /** The better-sqlite3 handle behind TypeORM's SQLite driver (opened at connect). */
  sqlite(): SqliteHandle {
    const db = (this.ds.driver as unknown as { databaseConnection?: SqliteHandle }).databaseConnection;
    if (!db) throw new Error('no SQLite handle: the DataSource is not a connected better-sqlite3 one');
    return db;
  }

  /** A timestamp parameter of TypeORM's query builder: timestamptz on PostgreSQL; UTC text on SQLite. */
  timeParam(name: string): string {
    return this.isPostgres ? `CAST(:${name} AS timestamptz)` : `:${name}`;
  }

  /** The `n`th (from 1) positional parameter of a raw query: `$n` on PostgreSQL, `?` on SQLite. */
  param(n: number): string {
    return this.isPostgres ? `$${n}` : '?';
  }

  /** A time as the value of a `timeParam`. */
  time(d: Date): string {
    return this.isPostgres ? d.toISOString() : sqliteTime(d);
  }

  /**
   * The keyset condition of a newest-first listing ordered by (`timeCol` DESC, `idCol` DESC): the
   * rows strictly after the cursor, with its two query-builder parameters.
   */
  keysetBefore(
    timeCol: string,
    idCol: string,
    after: { at: Date; id: string },
    names = { at: 'after_t', id: 'after_id' },
  ): { where: string; params: Record<string, unknown> } {
    return {
      where: `(${timeCol}, ${idCol}) < (${this.timeParam(names.at)}, :${names.id})`,
      params: { [names.at]: this.time(after.at), [names.id]: after.id },
    };
  }

  /** A parameter's value as this driver takes it. */
  encode(pgType: Param<unknown>['pgType'], v: unknown): unknown {
    if (v === null || v === undefined) return null;
    if (pgType === 'timestamptz') return this.isPostgres ? (v as Date).toISOString() : sqliteTime(v as Date);
    if (pgType === 'json') return JSON.stringify(v);
    return v;
  }
}

/**
 * PostgreSQL parameters generated from a list: `$n::type` references for a statement on one row,
 * or `unnest($1::type[], …) WITH ORDINALITY AS alias(name, …, ord)` for a statement on many, with
 * the values in the same generated order.
 */
export class PgParams<T> {
  private readonly index = new Map<string, number>();

  constructor(
    private readonly dialect: Dialect,
    readonly params: readonly Param<T>[],
  ) {
    params.forEach((p, i) => {
      if (this.index.has(p.name)) throw new Error(`parameter ${p.name} listed twice`);
      this.index.set(p.name, i + 1);
    });
  }

  /** `$n::type`: the parameter `name` of a one-row statement. */
  ref(name: string): string {
    const n = this.index.get(name);
    if (n === undefined) throw new Error(`no parameter ${name}`);
    return `$${n}::${this.params[n - 1].pgType}`;
  }

  /** The rows as a relation: `unnest(…) WITH ORDINALITY AS alias(…, ord)`, `ord` counting from 1. */
  unnest(alias: string): string {
    const arrays = this.params.map((p, i) => `$${i + 1}::${p.pgType}[]`).join(', ');
    return `unnest(${arrays}) WITH ORDINALITY AS ${alias}(${this.params.map((p) => p.name).join(', ')}, ord)`;
  }

  /** The values of a one-row statement. */
  values(row: T): unknown[] {
    return this.params.map((p) => this.dialect.encode(p.pgType, p.value(row)));
  }

  /** The values of an `unnest` statement: one array per parameter. */
  arrays(rows: readonly T[]): unknown[][] {
    return this.params.map((p) => rows.map((r) => this.dialect.encode(p.pgType, p.value(r))));
  }
}

/** SQLite named parameters (`@name`) generated from the same kind of list, with their values. */
export function sqliteParams<T>(dialect: Dialect, params: readonly Param<T>[], row: T): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of params) out[p.name] = dialect.encode(p.pgType, p.value(row));
  return out;
}

/**
 * A SQLite statement written with `@name` parameters, bound positionally (better-sqlite3 binds an
 * object by looking each name up: measurably slower on the hot path than an array).
 */
export interface NamedStatement {
  get(params: Record<string, unknown>): unknown;
  run(params: Record<string, unknown>): unknown;
}

export function prepareNamed(db: SqliteHandle, sql: string): NamedStatement {
  const names: string[] = [];
  const stmt = db.prepare(sql.replace(/@([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => (names.push(name), '?')));
  const bind = (params: Record<string, unknown>) =>
    names.map((n) => {
      if (!(n in params)) throw new Error(`Missing named parameter "${n}"`);
      return params[n];
    });
  return { get: (params) => stmt.get(...bind(params)), run: (params) => stmt.run(...bind(params)) };
}
