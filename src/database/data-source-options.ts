import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { adaptColumnTypes, DbKind } from './column-types';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export function dbKind(config: Pick<AppConfig, 'databaseUrl'>): DbKind {
  return config.databaseUrl ? 'postgres' : 'sqlite';
}

/** The one function that builds DataSource options, used by Nest and by the TypeORM CLI. */
export function buildDataSourceOptions(
  config: Pick<AppConfig, 'databaseUrl' | 'sqlitePath' | 'dbPoolSize'>,
): DataSourceOptions {
  const kind = dbKind(config);
  adaptColumnTypes(kind, ENTITIES);
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    logging: ['error', 'warn'] as ('error' | 'warn')[],
  };
  if (kind === 'postgres') {
    return {
      ...common,
      type: 'postgres',
      url: config.databaseUrl,
      extra: {
        max: config.dbPoolSize,
        connectionTimeoutMillis: 5000,
        // A statement that waits longer than this (a held lock, an overloaded server) fails
        // instead of piling requests up without limit.
        statement_timeout: 10_000,
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
