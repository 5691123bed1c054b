import { Logger } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { loadConfig } from '../../config/app-config';
import type { ApiKey } from './api-key.entity';
import { ApiKeysRepository, KeyRecord } from './api-keys.repository';
import { AuthFailureThrottle } from './auth-failure-throttle';
import { AuthService, hashKey, suppliedKeyPrefix } from './auth.service';

/**
 * A strict mock: every method of the class exists, and any call that the test did not stub fails
 * the test (in afterEach too, in case the service swallowed the error, as the last-used flush does).
 */
function strictMock<T extends object>(cls: { prototype: T; name: string }, unexpected: string[]): jest.Mocked<T> {
  const mock: Record<string, jest.Mock> = {};
  for (const name of Object.getOwnPropertyNames(cls.prototype)) {
    if (name === 'constructor') continue;
    mock[name] = jest.fn((...args: unknown[]) => {
      unexpected.push(`${cls.name}.${name}(${JSON.stringify(args)})`);
      throw new Error(`unstubbed call: ${cls.name}.${name}`);
    });
  }
  return mock as unknown as jest.Mocked<T>;
}

/** A clock that follows Date.now(), so that it and the caches (which read Date.now) move together under fake timers. */
class FakeClock extends Clock {
  now(): Date {
    return new Date(Date.now());
  }
}

const T0 = Date.parse('2026-05-26T12:00:00.000Z');
const SECRET = 'thr_pk_valid-secret-0123456789abcdefghijklmnopqrstu';

const record = (over: Partial<KeyRecord> = {}): KeyRecord => ({
  id: 'key-1',
  role: 'partner',
  partner_id: 'partner-1',
  expires_at: null,
  revoked_at: null,
  partner_disabled_at: null,
  mode: 'live',
  ...over,
});

const keyRow = (over: Partial<ApiKey> = {}): ApiKey => ({
  id: 'key-1',
  role: 'partner',
  partner_id: 'partner-1',
  name: null,
  prefix: 'thr_pk_abcde',
  key_hash: hashKey(SECRET),
  created_at: new Date(T0 - 86_400_000),
  expires_at: null,
  revoked_at: null,
  last_used_at: null,
  ...over,
});

async function failure(p: Promise<unknown>): Promise<AppError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppError);
  return e as AppError;
}

describe(AuthService.name, () => {
  let sut: AuthService;
  let keys: jest.Mocked<ApiKeysRepository>;
  let unexpected: string[];

  function build(env: Record<string, string> = {}) {
    unexpected = [];
    keys = strictMock(ApiKeysRepository, unexpected);
    // The replicas' bootstrap lock is the database's (see the migration-lock e2e): here it only runs its body.
    keys.underBootstrapLock.mockImplementation((fn: () => Promise<unknown>) => fn());
    sut = new AuthService(keys, new FakeClock(), loadConfig({ KEY_CACHE_TTL_MS: '5000', ...env }));
  }

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
    build();
  });

  afterEach(() => {
    jest.useRealTimers();
    jest.restoreAllMocks();
    expect(unexpected).toEqual([]);
  });

  describe('authenticate', () => {
    it('looks a key up by the hash of its secret and answers its principal', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await expect(sut.authenticate(SECRET)).resolves.toEqual({
        keyId: 'key-1',
        role: 'partner',
        partnerId: 'partner-1',
        mode: 'live',
      });
      expect(keys.findByHash).toHaveBeenCalledWith(hashKey(SECRET));
    });

    it('serves a key from the cache for KEY_CACHE_TTL_MS, then looks it up again', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      jest.setSystemTime(T0 + 4999);
      await sut.authenticate(SECRET);
      expect(keys.findByHash).toHaveBeenCalledTimes(1);
      jest.setSystemTime(T0 + 5000);
      keys.findByHash.mockResolvedValueOnce(record({ revoked_at: new Date(T0 + 1000) }));
      await expect(failure(sut.authenticate(SECRET))).resolves.toMatchObject({ code: 'invalid_api_key' });
      expect(keys.findByHash).toHaveBeenCalledTimes(2);
    });

    it('caches nothing with KEY_CACHE_TTL_MS=0', async () => {
      build({ KEY_CACHE_TTL_MS: '0' });
      keys.findByHash.mockResolvedValue(record());
      await sut.authenticate(SECRET);
      await sut.authenticate(SECRET);
      expect(keys.findByHash).toHaveBeenCalledTimes(2);
    });

    it('answers an unknown key 401 with WWW-Authenticate, and remembers the miss', async () => {
      keys.findByHash.mockResolvedValueOnce(null);
      const e = await failure(sut.authenticate('thr_pk_nope'));
      expect(e).toMatchObject({ code: 'invalid_api_key', detail: 'Invalid API key' });
      expect(e.headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
      await failure(sut.authenticate('thr_pk_nope'));
      expect(keys.findByHash).toHaveBeenCalledTimes(1);
    });

    it.each([
      ['revoked', { revoked_at: new Date(T0 - 1) }],
      ['expired at this instant', { expires_at: new Date(T0) }],
      ['of a disabled partner', { partner_disabled_at: new Date(T0 - 1) }],
    ])('refuses a key %s', async (_what, over) => {
      keys.findByHash.mockResolvedValueOnce(record(over));
      await expect(failure(sut.authenticate(SECRET))).resolves.toMatchObject({ code: 'invalid_api_key' });
    });

    it('lets a rotated key work until its expiry, judged by the clock at each request (even from the cache)', async () => {
      keys.findByHash.mockResolvedValueOnce(record({ expires_at: new Date(T0 + 1000) }));
      await expect(sut.authenticate(SECRET)).resolves.toMatchObject({ keyId: 'key-1' });
      jest.setSystemTime(T0 + 1000);
      await expect(failure(sut.authenticate(SECRET))).resolves.toMatchObject({ code: 'invalid_api_key' });
      expect(keys.findByHash).toHaveBeenCalledTimes(1);
    });

    it('keeps valid keys cached while 10,000 distinct invalid tokens arrive', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      keys.findByHash.mockResolvedValue(null);
      for (let i = 0; i < 10_000; i++) await failure(sut.authenticate(`thr_pk_invalid-${i}`));
      expect(keys.findByHash).toHaveBeenCalledTimes(10_001);
      // Still a hit: no new lookup for the valid key.
      await expect(sut.authenticate(SECRET)).resolves.toMatchObject({ keyId: 'key-1' });
      expect(keys.findByHash).toHaveBeenCalledTimes(10_001);
    });

    it('bounds the cache of known keys by least recent use', async () => {
      keys.findByHash.mockImplementation(async (hash) => record({ id: hash }));
      await sut.authenticate('thr_pk_first');
      for (let i = 0; i < 10_000; i++) {
        await sut.authenticate(`thr_pk_key-${i}`);
        if (i % 1000 === 0) await sut.authenticate(SECRET); // in use: stays
      }
      const lookups = keys.findByHash.mock.calls.length;
      await sut.authenticate(SECRET);
      expect(keys.findByHash).toHaveBeenCalledTimes(lookups);
      await sut.authenticate('thr_pk_first'); // least recently used: evicted, looked up again
      expect(keys.findByHash).toHaveBeenCalledTimes(lookups + 1);
    });

    it('forgets a revoked key at once in this process', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      keys.findById.mockResolvedValueOnce(keyRow());
      keys.revoke.mockResolvedValueOnce(true);
      await sut.revokeApiKey('key-1');
      expect(keys.revoke).toHaveBeenCalledWith('key-1', new Date(T0));
      keys.findByHash.mockResolvedValueOnce(record({ revoked_at: new Date(T0) }));
      await expect(failure(sut.authenticate(SECRET))).resolves.toMatchObject({ code: 'invalid_api_key' });
    });

    it("forgets a partner's keys when asked (the partner was disabled)", async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      sut.forgetPartner('partner-1');
      keys.findByHash.mockResolvedValueOnce(record({ partner_disabled_at: new Date(T0) }));
      await expect(failure(sut.authenticate(SECRET))).resolves.toMatchObject({ code: 'invalid_api_key' });
    });
  });

  describe('failed-authentication throttle', () => {
    beforeEach(() => build({ AUTH_FAILURE_LIMIT_PER_MINUTE: '3' }));

    it('answers 429 with Retry-After past the limit, per address, until the minute ends', async () => {
      keys.findByHash.mockResolvedValue(null);
      jest.setSystemTime(T0 + 15_000); // 45 s left in this minute
      for (let i = 0; i < 3; i++) {
        await expect(failure(sut.authenticate(`bad-${i}`, '203.0.113.7'))).resolves.toMatchObject({
          code: 'invalid_api_key',
        });
      }
      const e = await failure(sut.authenticate('bad-3', '203.0.113.7'));
      expect(e).toMatchObject({ code: 'rate_limited', detail: 'Too many requests' });
      expect(e.headers).toEqual({ 'Retry-After': '45' });
      // Another address is not affected.
      await expect(failure(sut.authenticate('bad-4', '198.51.100.1'))).resolves.toMatchObject({
        code: 'invalid_api_key',
      });
      // The next minute starts afresh.
      jest.setSystemTime(T0 + 60_000);
      await expect(failure(sut.authenticate('bad-5', '203.0.113.7'))).resolves.toMatchObject({
        code: 'invalid_api_key',
      });
    });

    it('lets a valid key from a throttled address through, without touching the throttle', async () => {
      keys.findByHash.mockResolvedValue(null);
      for (let i = 0; i < 4; i++) await failure(sut.authenticate(`bad-${i}`, '203.0.113.7'));
      const fail = jest.spyOn(AuthFailureThrottle.prototype, 'fail');
      keys.findByHash.mockResolvedValueOnce(record());
      await expect(sut.authenticate(SECRET, '203.0.113.7')).resolves.toMatchObject({ keyId: 'key-1' });
      await expect(sut.authenticate(SECRET, '203.0.113.7')).resolves.toMatchObject({ keyId: 'key-1' });
      expect(fail).not.toHaveBeenCalled();
    });

    it('is off with AUTH_FAILURE_LIMIT_PER_MINUTE=0', async () => {
      build({ AUTH_FAILURE_LIMIT_PER_MINUTE: '0' });
      keys.findByHash.mockResolvedValue(null);
      for (let i = 0; i < 200; i++) {
        await expect(failure(sut.authenticate(`bad-${i}`, '203.0.113.7'))).resolves.toMatchObject({
          code: 'invalid_api_key',
        });
      }
    });
  });

  describe('last-used times', () => {
    it('gathers uses in memory and writes them in one batch per flush', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      jest.setSystemTime(T0 + 700);
      await sut.authenticate(SECRET);
      keys.recordLastUsed.mockResolvedValueOnce();
      await sut.flushLastUsed();
      expect(keys.recordLastUsed).toHaveBeenCalledTimes(1);
      expect(keys.recordLastUsed).toHaveBeenCalledWith(new Map([['key-1', new Date(T0 + 700)]]));
      await sut.flushLastUsed(); // nothing new: no write (a write would be an unstubbed call)
      expect(keys.recordLastUsed).toHaveBeenCalledTimes(1);
    });

    it('keeps the uses of a failed write for the next flush, unless newer ones arrived', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      keys.findByHash.mockResolvedValueOnce(record({ id: 'key-2' }));
      await sut.authenticate(SECRET);
      await sut.authenticate('thr_pk_other');
      keys.recordLastUsed.mockRejectedValueOnce(new Error('database away'));
      await sut.flushLastUsed();
      jest.setSystemTime(T0 + 2000);
      await sut.authenticate(SECRET);
      keys.recordLastUsed.mockResolvedValueOnce();
      await sut.flushLastUsed();
      expect(keys.recordLastUsed).toHaveBeenLastCalledWith(
        new Map([
          ['key-1', new Date(T0 + 2000)],
          ['key-2', new Date(T0)],
        ]),
      );
      expect(Logger.prototype.warn).toHaveBeenCalledWith('Could not write last_used_at: database away');
    });

    it('shows uses not yet written in the key list', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      keys.listKeys.mockResolvedValueOnce([keyRow({ last_used_at: new Date(T0 - 5000) })]);
      const [k] = await sut.listKeys();
      expect(k.last_used_at).toBe(new Date(T0).toISOString());
      expect(JSON.stringify(k)).not.toContain(hashKey(SECRET));
    });

    it('flushes at shutdown', async () => {
      keys.findByHash.mockResolvedValueOnce(record());
      await sut.authenticate(SECRET);
      keys.recordLastUsed.mockResolvedValueOnce();
      await sut.beforeApplicationShutdown();
      expect(keys.recordLastUsed).toHaveBeenCalledWith(new Map([['key-1', new Date(T0)]]));
    });
  });

  describe('prefixes', () => {
    it('shows the role prefix and 5 random characters of a generated key', async () => {
      keys.insert.mockResolvedValueOnce(undefined);
      const issued = await sut.createApiKey({ role: 'partner', partner_id: 'partner-1' });
      expect(issued.key).toMatch(/^thr_pk_[A-Za-z0-9_-]{43}$/);
      const row = keys.insert.mock.calls[0][0];
      expect(row).toMatchObject({ prefix: issued.key.slice(0, 12), key_hash: hashKey(issued.key) });
    });

    it('never shows any part of a secret an operator supplied', async () => {
      const secret = 'my-own-admin-secret-0123456789abcdef';
      keys.insert.mockResolvedValueOnce(undefined);
      await sut.createApiKey({ role: 'admin', name: 'bootstrap' }, secret);
      const { prefix } = keys.insert.mock.calls[0][0];
      expect(prefix).toMatch(/^thr_ak_\[h:[0-9a-f]{8}\]$/);
      expect(prefix).toBe(suppliedKeyPrefix('admin', hashKey(secret)));
      const shown = prefix.slice('thr_ak_'.length);
      for (let i = 0; i + 3 <= secret.length; i++) expect(shown).not.toContain(secret.slice(i, i + 3));
      expect(hashKey(secret)).not.toContain(prefix.slice(10, 18));
    });

    it('replaces, at boot, the readable prefix of a bootstrap key made before', async () => {
      const secret = 'my-own-admin-secret-0123456789abcdef';
      build({ BOOTSTRAP_ADMIN_KEY: secret });
      keys.findByHash.mockResolvedValueOnce(record({ id: 'boot', role: 'admin', partner_id: null }));
      keys.setPrefix.mockResolvedValueOnce();
      await sut.onApplicationBootstrap();
      await sut.beforeApplicationShutdown();
      expect(keys.findByHash).toHaveBeenCalledWith(hashKey(secret));
      expect(keys.setPrefix).toHaveBeenCalledWith('boot', suppliedKeyPrefix('admin', hashKey(secret)));
    });

    it('creates the bootstrap key with a hashed prefix when the database has no admin', async () => {
      const secret = 'my-own-admin-secret-0123456789abcdef';
      build({ BOOTSTRAP_ADMIN_KEY: secret });
      keys.findByHash.mockResolvedValueOnce(null);
      keys.hasActiveAdmin.mockResolvedValueOnce(false);
      keys.insert.mockResolvedValueOnce(undefined);
      await sut.onApplicationBootstrap();
      await sut.beforeApplicationShutdown();
      expect(keys.insert).toHaveBeenCalledWith(
        expect.objectContaining({
          role: 'admin',
          name: 'bootstrap (BOOTSTRAP_ADMIN_KEY)',
          prefix: suppliedKeyPrefix('admin', hashKey(secret)),
          key_hash: hashKey(secret),
        }),
      );
      // Tried before it existed (a miss cached): it works at once after creation.
      keys.findByHash.mockResolvedValueOnce(record({ id: 'boot', role: 'admin', partner_id: null }));
      await expect(sut.authenticate(secret)).resolves.toMatchObject({ keyId: 'boot', role: 'admin' });
    });
  });
});
