import { isIP } from 'node:net';
import { parseDuration } from './duration';

/**
 * The one place that reads process.env. Every variable is validated at boot; a bad value stops
 * the process with a message naming the variable.
 */
export interface AppConfig {
  nodeEnv: string;
  port: number;
  host: string;
  /** postgres://… switches to PostgreSQL; otherwise the embedded SQLite file is used. */
  databaseUrl?: string;
  sqlitePath: string;
  dbPoolSize: number;
  /** Milliseconds. */
  dedupWindowMs: number;
  /** A partner's default attribution window (ATTRIBUTION_WINDOW): a conversion later than this after its click is `outside_window`. */
  attributionWindowMs: number;
  /** How long a looked-up API key may be served from the in-process cache (ms). */
  keyCacheTtlMs: number;
  /** The admin key created at boot when the database has none (BOOTSTRAP_ADMIN_KEY, at least 32 characters). */
  bootstrapAdminKey?: string;
  /** Failed authentications (invalid keys) per minute per client address before 429; 0 switches the limit off. */
  authFailureLimitPerMinute: number;
  /** How often gathered last_used_at times are written (ms). */
  lastUsedFlushMs: number;
  logLevel: string;
  /** json (one JSON object per line, the default) or pretty (needs the pino-pretty dev dependency). */
  logFormat: 'json' | 'pretty';
  /** PostgreSQL: a statement running longer than this is cancelled and answered 503 (ms). */
  dbStatementTimeoutMs: number;
  /** PostgreSQL: how long to wait for a pooled connection or a new one before answering 503 (ms). */
  dbConnectTimeoutMs: number;
  /** Bearer token that may read GET /metrics (besides support and admin keys); unset: keys only. */
  metricsToken?: string;
  /** Shared rate-limit storage across replicas; unset: in memory, per process. */
  redisUrl?: string;
  /** Prefix of every Redis key the service writes (several deployments may share one Redis). */
  redisKeyPrefix: string;
  /** Requests per minute per partner API key unless its partner has its own limit; 0 switches the default off. */
  rateLimitPerMinute: number;
  /** Bounded wait for in-flight requests on SIGTERM before the process gives up and exits (ms). */
  shutdownTimeoutMs: number;
  /** The click-signing secret (CLICK_SIGNING_SECRET); unset outside production means a generated one kept beside the SQLite file. */
  clickSigningSecret?: string;
  /** The previous secret, still accepted for verification after a rotation (CLICK_SIGNING_PREVIOUS_SECRET). */
  clickSigningPreviousSecret?: string;
  /** How long after the click a signed click stays attributable (ms). */
  clickTtlMs: number;
  /** Tag conversion endpoint rate limits: requests per window, per click and per client address. */
  tagRateLimitPerClick: number;
  tagRateLimitPerAddress: number;
  tagRateWindowMs: number;
  /** The link-signing secret (LINK_SIGNING_SECRET) the ad server signs `/c` links with; unset outside production: generated, kept beside the SQLite file. */
  linkSigningSecret?: string;
  /** The previous link secret, still accepted after a rotation while live links are re-signed (LINK_SIGNING_PREVIOUS_SECRET). */
  linkSigningPreviousSecret?: string;
  /** Click redirect (GET /c) requests per TAG_RATE_WINDOW per client address. */
  clickRateLimitPerAddress: number;
  /** Which proxies' X-Forwarded-For is believed (TRUST_PROXY): false (none, the default), a hop count, or addresses/CIDR ranges. */
  trustProxy: false | number | string[];
  /** Refused conversion attempts are kept (ATTEMPTS_RECORDING=on, the default) or not (off). */
  attemptsRecording: boolean;
  /** How long refused attempts are kept (ATTEMPTS_RETENTION, ms; default 30 days). */
  attemptsRetentionMs: number;
  /** Attempts waiting to be written; beyond this one is dropped and counted (ATTEMPTS_QUEUE_MAX). */
  attemptsQueueMax: number;
  /** How often queued attempts are written, one multi-row INSERT per flush (ATTEMPTS_FLUSH_INTERVAL, ms). */
  attemptsFlushMs: number;
  /** How often the retention delete runs, jittered ±20% (RETENTION_INTERVAL, ms). */
  retentionIntervalMs: number;
  /** How long sandbox (test) data is kept: conversions, clicks, claims and attempts (TEST_DATA_TTL, ms; default 7 days). */
  testDataTtlMs: number;
  /** Webhooks may reach private, loopback and link-local addresses (WEBHOOK_ALLOW_PRIVATE=true; tests and local receivers only). */
  webhookAllowPrivate: boolean;
  /** How long the previous endpoint secret keeps signing after a rotation (WEBHOOK_SECRET_GRACE, ms; default 24h). */
  webhookSecretGraceMs: number;
  /** First retry delay of a failed delivery; each next one is 4 times longer, capped at 6 h (WEBHOOK_RETRY_BASE_MS; default 5000). */
  webhookRetryBaseMs: number;
  /** How long a message is retried before it is given up (WEBHOOK_RETRY_WINDOW, ms; default 26h). */
  webhookRetryWindowMs: number;
  /** How often the dispatcher looks for due messages when idle (WEBHOOK_POLL_MS; default 1000). */
  webhookPollMs: number;
  /** Per-attempt timeout (WEBHOOK_TIMEOUT_MS; default 10000). */
  webhookTimeoutMs: number;
  /** How long a claimed message is reserved for the replica sending it (WEBHOOK_LEASE_MS; default 30000; more than the timeout). */
  webhookLeaseMs: number;
  /** An endpoint failing this long in a row is disabled (WEBHOOK_DISABLE_AFTER, ms; default 24h). */
  webhookDisableAfterMs: number;
  /** Deliveries in flight per process (WEBHOOK_CONCURRENCY; default 16). */
  webhookConcurrency: number;
  /**
   * Event-loop utilisation (0..1) at or above which, while conversions are coming in, the dispatcher
   * takes one round per WEBHOOK_POLL_MS instead of back-to-back rounds (WEBHOOK_BUSY_ELU_PERCENT;
   * default 80; 100 switches it off).
   */
  webhookBusyElu: number;
  /** Delivery runs in this process (WEBHOOK_DISPATCHER=on, the default). */
  webhookDispatcher: boolean;
  /** The key endpoint secrets are encrypted with at rest (WEBHOOK_SECRET_KEY); unset: derived from CLICK_SIGNING_SECRET or the embedded secret. */
  webhookSecretKey?: string;
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

function intVar(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function durationVar(env: Env, name: string, def: string): number {
  const raw = env[name] || def;
  const ms = parseDuration(raw);
  if (ms === undefined) {
    throw new ConfigError(
      `${name} must be a duration like 7d, 24h, 30m, 45s, 500ms or a number of seconds, got "${raw}"`,
    );
  }
  return ms;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      `DATABASE_URL must be a postgres:// URL, got "${databaseUrl.replace(/\/\/[^@]*@/, '//***@')}"`,
    );
  }
  const bootstrapAdminKey = env.BOOTSTRAP_ADMIN_KEY || undefined;
  if (bootstrapAdminKey !== undefined && bootstrapAdminKey.length < 32) {
    throw new ConfigError(
      'BOOTSTRAP_ADMIN_KEY must be at least 32 characters (e.g. `openssl rand -base64 32`), got ' +
        `${bootstrapAdminKey.length}`,
    );
  }
  const logLevel = env.LOG_LEVEL || 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent; got "${logLevel}"`);
  }
  const logFormat = env.LOG_FORMAT || 'json';
  if (logFormat !== 'json' && logFormat !== 'pretty')
    throw new ConfigError(`LOG_FORMAT must be json or pretty, got "${logFormat}"`);
  const metricsToken = env.METRICS_TOKEN || undefined;
  if (metricsToken !== undefined && metricsToken.length < 16) {
    throw new ConfigError('METRICS_TOKEN must be at least 16 characters');
  }
  const redisUrl = env.REDIS_URL?.trim() || undefined;
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(
      `REDIS_URL must be a redis:// or rediss:// URL, got "${redisUrl.replace(/\/\/[^@]*@/, '//***@')}"`,
    );
  }
  const nodeEnv = env.NODE_ENV || 'development';
  const clickSigningSecret = secretVar(env, 'CLICK_SIGNING_SECRET');
  const clickSigningPreviousSecret = secretVar(env, 'CLICK_SIGNING_PREVIOUS_SECRET');
  if (nodeEnv === 'production' && !clickSigningSecret) {
    throw new ConfigError(
      'CLICK_SIGNING_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -base64 48`)',
    );
  }
  const linkSigningSecret = secretVar(env, 'LINK_SIGNING_SECRET');
  if (nodeEnv === 'production' && !linkSigningSecret) {
    throw new ConfigError(
      'LINK_SIGNING_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -base64 48`)',
    );
  }
  const tagRateWindowMs = durationVar(env, 'TAG_RATE_WINDOW', '60s');
  if (tagRateWindowMs < 1000) throw new ConfigError('TAG_RATE_WINDOW must be at least 1s');
  return {
    nodeEnv,
    port: intVar(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    databaseUrl,
    sqlitePath: env.SQLITE_PATH || 'data/conversions.sqlite',
    dbPoolSize: intVar(env, 'DB_POOL_SIZE', 10, 1, 500),
    dedupWindowMs: durationVar(env, 'DEDUP_WINDOW', '7d'),
    attributionWindowMs: durationVar(env, 'ATTRIBUTION_WINDOW', '30d'),
    keyCacheTtlMs: intVar(env, 'KEY_CACHE_TTL_MS', 5000, 0, 600_000),
    bootstrapAdminKey,
    authFailureLimitPerMinute: intVar(env, 'AUTH_FAILURE_LIMIT_PER_MINUTE', 100, 0, 1_000_000),
    lastUsedFlushMs: durationVar(env, 'LAST_USED_FLUSH', '60s'),
    logLevel,
    logFormat,
    dbStatementTimeoutMs: intVar(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 100, 86_400_000),
    dbConnectTimeoutMs: intVar(env, 'DB_CONNECT_TIMEOUT_MS', 3000, 100, 600_000),
    metricsToken,
    redisUrl,
    redisKeyPrefix: env.REDIS_KEY_PREFIX || 'thrad:',
    rateLimitPerMinute: intVar(env, 'RATE_LIMIT_PER_MINUTE', 60_000, 0, 10_000_000),
    shutdownTimeoutMs: intVar(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, 600_000),
    clickSigningSecret,
    clickSigningPreviousSecret,
    clickTtlMs: durationVar(env, 'CLICK_TTL', '30d'),
    tagRateLimitPerClick: intVar(env, 'TAG_RATE_LIMIT_PER_CLICK', 20, 1, 1_000_000),
    tagRateLimitPerAddress: intVar(env, 'TAG_RATE_LIMIT_PER_ADDRESS', 120, 1, 1_000_000),
    tagRateWindowMs,
    linkSigningSecret,
    linkSigningPreviousSecret: secretVar(env, 'LINK_SIGNING_PREVIOUS_SECRET'),
    clickRateLimitPerAddress: intVar(env, 'CLICK_RATE_LIMIT_PER_ADDRESS', 120, 1, 1_000_000),
    trustProxy: trustProxyVar(env),
    attemptsRecording: onOffVar(env, 'ATTEMPTS_RECORDING', true),
    attemptsRetentionMs: durationVar(env, 'ATTEMPTS_RETENTION', '30d'),
    attemptsQueueMax: intVar(env, 'ATTEMPTS_QUEUE_MAX', 10_000, 1, 1_000_000),
    attemptsFlushMs: durationVar(env, 'ATTEMPTS_FLUSH_INTERVAL', '250ms'),
    retentionIntervalMs: durationVar(env, 'RETENTION_INTERVAL', '10m'),
    testDataTtlMs: durationVar(env, 'TEST_DATA_TTL', '7d'),
    ...webhookVars(env),
  };
}

function webhookVars(env: Env) {
  const webhookTimeoutMs = intVar(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000);
  const webhookLeaseMs = intVar(env, 'WEBHOOK_LEASE_MS', 30_000, 200, 3_600_000);
  if (webhookLeaseMs <= webhookTimeoutMs)
    throw new ConfigError(
      `WEBHOOK_LEASE_MS (${webhookLeaseMs}) must be more than WEBHOOK_TIMEOUT_MS (${webhookTimeoutMs})`,
    );
  return {
    webhookAllowPrivate: onOffVar(env, 'WEBHOOK_ALLOW_PRIVATE', false),
    webhookSecretGraceMs: durationVar(env, 'WEBHOOK_SECRET_GRACE', '24h'),
    webhookRetryBaseMs: intVar(env, 'WEBHOOK_RETRY_BASE_MS', 5000, 1, 3_600_000),
    webhookRetryWindowMs: durationVar(env, 'WEBHOOK_RETRY_WINDOW', '26h'),
    webhookPollMs: intVar(env, 'WEBHOOK_POLL_MS', 1000, 10, 600_000),
    webhookTimeoutMs,
    webhookLeaseMs,
    webhookDisableAfterMs: durationVar(env, 'WEBHOOK_DISABLE_AFTER', '24h'),
    webhookConcurrency: intVar(env, 'WEBHOOK_CONCURRENCY', 16, 1, 256),
    webhookBusyElu: intVar(env, 'WEBHOOK_BUSY_ELU_PERCENT', 80, 1, 100) / 100,
    webhookDispatcher: onOffVar(env, 'WEBHOOK_DISPATCHER', true),
    webhookSecretKey: secretVar(env, 'WEBHOOK_SECRET_KEY'),
  };
}

/** proxy-addr's names for ranges (the ones worth trusting as proxies). */
const PROXY_RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** TRUST_PROXY: unset or 0 (off), a hop count, or a comma-separated list of addresses, CIDR ranges and range names. */
function trustProxyVar(env: Env): false | number | string[] {
  const raw = (env.TRUST_PROXY ?? '').trim();
  if (raw === '') return false;
  if (/^\d{1,3}$/.test(raw)) return Number(raw) === 0 ? false : Number(raw);
  const entries = raw.split(',').map((e) => e.trim());
  const valid = (e: string): boolean => {
    if (PROXY_RANGE_NAMES.includes(e)) return true;
    const slash = e.indexOf('/');
    if (slash < 0) return isIP(e) !== 0;
    const family = isIP(e.slice(0, slash));
    const bits = e.slice(slash + 1);
    return family !== 0 && /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
  };
  if (raw.length > 4096 || !entries.every(valid)) {
    throw new ConfigError(
      `TRUST_PROXY must be a hop count (e.g. 1) or a comma-separated list of proxy addresses, CIDR ranges or ${PROXY_RANGE_NAMES.join('/')} (e.g. 10.0.0.0/8), got "${raw}"`,
    );
  }
  return entries;
}

function onOffVar(env: Env, name: string, def: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '') return def;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new ConfigError(`${name} must be on or off, got "${env[name]}"`);
}

function secretVar(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < 32) throw new ConfigError(`${name} must be at least 32 characters`);
  return raw;
}

export const APP_CONFIG = Symbol('APP_CONFIG');
