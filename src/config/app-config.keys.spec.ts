import { ConfigError, loadConfig } from './app-config';

describe('loadConfig: keys', () => {
  it('refuses a bootstrap admin key shorter than 32 characters, naming the variable', () => {
    const short = 'x'.repeat(31);
    expect(() => loadConfig({ BOOTSTRAP_ADMIN_KEY: short })).toThrow(ConfigError);
    expect(() => loadConfig({ BOOTSTRAP_ADMIN_KEY: short })).toThrow(
      /^BOOTSTRAP_ADMIN_KEY must be at least 32 characters/,
    );
    expect(loadConfig({ BOOTSTRAP_ADMIN_KEY: 'x'.repeat(32) }).bootstrapAdminKey).toBe('x'.repeat(32));
    expect(loadConfig({}).bootstrapAdminKey).toBeUndefined();
  });

  it('limits failed authentications to 100 a minute per address by default; 0 switches the limit off', () => {
    expect(loadConfig({}).authFailureLimitPerMinute).toBe(100);
    expect(loadConfig({ AUTH_FAILURE_LIMIT_PER_MINUTE: '5' }).authFailureLimitPerMinute).toBe(5);
    expect(loadConfig({ AUTH_FAILURE_LIMIT_PER_MINUTE: '0' }).authFailureLimitPerMinute).toBe(0);
    expect(() => loadConfig({ AUTH_FAILURE_LIMIT_PER_MINUTE: 'many' })).toThrow(
      /^AUTH_FAILURE_LIMIT_PER_MINUTE must be an integer/,
    );
  });

  it('keeps sandbox data 7 days by default; TEST_DATA_TTL takes a duration (7d, 12h) or seconds', () => {
    expect(loadConfig({}).testDataTtlMs).toBe(7 * 86_400_000);
    expect(loadConfig({ TEST_DATA_TTL: '12h' }).testDataTtlMs).toBe(12 * 3_600_000);
    expect(loadConfig({ TEST_DATA_TTL: '90' }).testDataTtlMs).toBe(90_000);
    expect(() => loadConfig({ TEST_DATA_TTL: 'a week' })).toThrow(/^TEST_DATA_TTL /);
  });
});
