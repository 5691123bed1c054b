import { AppError } from './errors';

/**
 * SQLSTATE codes that mean "the database cannot serve right now; the same request may succeed
 * later": timeouts, cancelled or terminated sessions, lost connections, overload, serialisation.
 */
const TRANSIENT_SQLSTATES = new Set([
  '57014', // query_canceled (statement_timeout, a held lock)
  '55P03', // lock_not_available (lock_timeout)
  '57P01', // admin_shutdown (pg_terminate_backend, a fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);

/** Node socket errors seen when the database host is down, restarting or unreachable. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** node-postgres reports lost connections and its own timeouts as plain Errors with these messages. */
const PG_CLIENT_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed and is not queryable|Cannot use a pool after calling end)|not currently accepting connections|the database system is (starting up|shutting down|in recovery mode)/i;

/** SQLite: another writer holds the database past the busy timeout. */
const SQLITE_BUSY = /^SQLITE_(BUSY|LOCKED)/;

function codeOf(e: { code?: unknown; driverError?: { code?: unknown } }): string | undefined {
  const c = e.code ?? e.driverError?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * Whether an error thrown by the database driver (directly or wrapped in TypeORM's
 * QueryFailedError) means the database is unavailable or too slow, rather than a bug.
 */
export function isDatabaseUnavailable(e: unknown, depth = 0): boolean {
  if (!e || typeof e !== 'object' || depth > 3) return false;
  const err = e as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  const code = codeOf(err as { code?: unknown; driverError?: { code?: unknown } });
  if (code) {
    if (TRANSIENT_SQLSTATES.has(code) || code.startsWith('08') || NETWORK_CODES.has(code) || SQLITE_BUSY.test(code))
      return true;
  }
  if (typeof err.message === 'string' && PG_CLIENT_MESSAGES.test(err.message)) return true;
  if (Array.isArray(err.errors) && err.errors.some((x) => isDatabaseUnavailable(x, depth + 1))) return true;
  return isDatabaseUnavailable(err.driverError, depth + 1) || isDatabaseUnavailable(err.cause, depth + 1);
}

/** The catalogue's one retryable 503 (`unavailable`, with its Retry-After). */
export function databaseUnavailable(): AppError {
  return new AppError('unavailable');
}
