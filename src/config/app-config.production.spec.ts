import { ConfigError, loadConfig } from './app-config';

describe('loadConfig: production variables', () => {
  it('has defaults', () => {
    const c = loadConfig({});
    expect({
      dbStatementTimeoutMs: c.dbStatementTimeoutMs,
      dbConnectTimeoutMs: c.dbConnectTimeoutMs,
      metricsToken: c.metricsToken,
      redisUrl: c.redisUrl,
      redisKeyPrefix: c.redisKeyPrefix,
      rateLimitPerMinute: c.rateLimitPerMinute,
      shutdownTimeoutMs: c.shutdownTimeoutMs,
      logFormat: c.logFormat,
    }).toEqual({
      dbStatementTimeoutMs: 5000,
      dbConnectTimeoutMs: 3000,
      metricsToken: undefined,
      redisUrl: undefined,
      redisKeyPrefix: 'thrad:',
      rateLimitPerMinute: 60_000,
      shutdownTimeoutMs: 10_000,
      logFormat: 'json',
    });
  });

  it.each([
    ['DB_STATEMENT_TIMEOUT_MS', 'soon', /^DB_STATEMENT_TIMEOUT_MS must be an integer/],
    ['DB_CONNECT_TIMEOUT_MS', '5', /^DB_CONNECT_TIMEOUT_MS must be between 100 and 600000/],
    ['METRICS_TOKEN', 'short', /^METRICS_TOKEN must be at least 16 characters/],
    [
      'REDIS_URL',
      'http://user:pw@redis:6379',
      /^REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL, got "http:\/\/\*\*\*@redis:6379"/,
    ],
    ['RATE_LIMIT_PER_MINUTE', '-1', /^RATE_LIMIT_PER_MINUTE must be an integer/],
    ['SHUTDOWN_TIMEOUT_MS', '1e4', /^SHUTDOWN_TIMEOUT_MS must be an integer/],
    ['LOG_FORMAT', 'xml', /^LOG_FORMAT must be json or pretty/],
  ])('a bad %s stops the boot with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
