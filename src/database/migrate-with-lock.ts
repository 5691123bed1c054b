import { Logger } from '@nestjs/common';
import { DataSource, DataSourceOptions, MigrationExecutor, QueryRunner } from 'typeorm';

/** The PostgreSQL advisory lock every replica takes to migrate ('thrad' in ASCII, a bigint). */
export const MIGRATION_LOCK_KEY = 0x746872616;

/**
 * Opens the DataSource and applies the pending migrations. On PostgreSQL the migrations run under
 * a session advisory lock, on the locking connection, so that replicas starting together on an
 * unmigrated database take turns: the first applies them, the others wait and then find nothing
 * left to do. (Without it each replica reads "pending" and runs the same CREATE TABLE.) The lock
 * goes with the session, so a replica that dies while migrating frees it.
 *
 * The lock is polled with pg_try_advisory_lock instead of waited on: a blocking wait would run
 * into the statement timeout while another replica migrates for longer.
 */
export async function openAndMigrate(options: DataSourceOptions, pollMs = 100): Promise<DataSource> {
  const ds = await new DataSource({ ...options, migrationsRun: false }).initialize();
  try {
    await migrateWithLock(ds, pollMs);
  } catch (e) {
    await ds.destroy();
    throw e;
  }
  return ds;
}

export async function migrateWithLock(ds: DataSource, pollMs = 100): Promise<void> {
  if (ds.options.type !== 'postgres') {
    await ds.runMigrations();
    return;
  }
  await withAdvisoryLock(
    ds,
    MIGRATION_LOCK_KEY,
    async (qr) => {
      const executor = new MigrationExecutor(ds, qr);
      executor.transaction = ds.options.migrationsTransactionMode ?? 'all';
      await executor.executePendingMigrations();
    },
    'Another process is migrating the database; waiting for it',
    pollMs,
  );
}

/**
 * Runs `fn` while this process holds the PostgreSQL session advisory lock `key`, on a connection of
 * its own (passed to `fn`), so replicas take turns; polled with pg_try_advisory_lock (see above).
 * Elsewhere (SQLite: one process per file) it just runs `fn`.
 */
export async function withAdvisoryLock<T>(
  ds: DataSource,
  key: number,
  fn: (qr: QueryRunner) => Promise<T>,
  waitingMessage?: string,
  pollMs = 100,
): Promise<T> {
  const qr = ds.createQueryRunner();
  if (ds.options.type !== 'postgres') {
    try {
      return await fn(qr);
    } finally {
      await qr.release();
    }
  }
  await qr.connect();
  try {
    let waiting = false;
    for (;;) {
      const [{ locked }] = (await qr.query('SELECT pg_try_advisory_lock($1) AS locked', [key])) as {
        locked: boolean;
      }[];
      if (locked) break;
      if (!waiting && waitingMessage) new Logger('Database').log(waitingMessage);
      waiting = true;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    try {
      return await fn(qr);
    } finally {
      await qr.query('SELECT pg_advisory_unlock($1)', [key]);
    }
  } finally {
    await qr.release();
  }
}
