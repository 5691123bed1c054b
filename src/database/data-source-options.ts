import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { adaptColumnTypes, DbKind } from './column-types';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';
import { QuietTypeOrmLogger } from './typeorm-logger';

export function dbKind(config: Pick<AppConfig, 'databaseUrl'>): DbKind {
  return config.databaseUrl ? 'postgres' : 'sqlite';
}

/** The one function that builds DataSource options, used by Nest and by the TypeORM CLI. */
export function buildDataSourceOptions(
  config: Pick<AppConfig, 'databaseUrl' | 'sqlitePath' | 'dbPoolSize'> &
    Partial<Pick<AppConfig, 'dbStatementTimeoutMs' | 'dbConnectTimeoutMs'>>,
): DataSourceOptions {
  const kind = dbKind(config);
  adaptColumnTypes(kind, ENTITIES);
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logging: ['error', 'warn', 'migration'] as ('error' | 'warn' | 'migration')[],
    // Through Nest's logger, never with query parameters (they hold request bodies).
    logger: new QuietTypeOrmLogger(),
  };
  if (kind === 'postgres') {
    const statementTimeout = config.dbStatementTimeoutMs ?? 5000;
    return {
      ...common,
      type: 'postgres',
      url: config.databaseUrl,
      extra: {
        max: config.dbPoolSize,
        // Bounds both a new connection and the wait for a pooled one: when the database is down or
        // every connection is stuck, requests fail (503) instead of queueing without limit.
        connectionTimeoutMillis: config.dbConnectTimeoutMs ?? 3000,
        // A statement that waits longer than this (a held lock, an overloaded server) is cancelled
        // by the server instead of piling requests up without limit.
        statement_timeout: statementTimeout,
        // The client-side bound for when the server cannot even cancel (network partition).
        query_timeout: statementTimeout + 2000,
        keepAlive: true,
      },
    };
  }
  if (config.sqlitePath !== ':memory:') mkdirSync(dirname(config.sqlitePath), { recursive: true });
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.sqlitePath,
    timeout: 10_000,
    prepareDatabase: (db: { pragma(s: string): unknown }) => {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      // 64 MiB of page cache (the default is 2 MiB): the indexes of a busy conversions table stay
      // in memory instead of being read back from the OS on every insert.
      db.pragma('cache_size = -65536');
      // Checkpoint every ~40 MiB of WAL instead of ~4 MiB: the hot index pages a stream of
      // inserts rewrites are copied into the database file (and fsynced) ten times less often.
      db.pragma('wal_autocheckpoint = 10000');
      db.pragma('foreign_keys = ON');
    },
  };
}
