import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { HideSuppliedKeyPrefixes1764900000010 } from '../migrations/1764900000010-hide-supplied-key-prefixes';
import { hashKey, suppliedKeyPrefix, TEST_KEY_PREFIX } from '../src/modules/auth/auth.service';
import { ApiClient, Fixture, makePartner } from './api-client';
import { makeKey } from './admin-helpers';
import { ADMIN_KEY, createTestApp, TestApp } from './test-app';

/** Keys as an attacker and a support engineer see them: shown prefixes, and the failed-authentication throttle. */
describe('API keys: prefixes and failed-authentication throttle (e2e)', () => {
  let t: TestApp;
  let api: ApiClient;
  let f: Fixture;
  let support: string;

  beforeAll(async () => {
    t = await createTestApp({ AUTH_FAILURE_LIMIT_PER_MINUTE: '5' });
    api = new ApiClient(t.app);
    f = await makePartner(api);
    support = (await makeKey(api, 'support')).key;
  });
  afterAll(() => t.close());

  /** One request from a given client address (request.ip), as Fastify sees the socket's peer. */
  async function from(address: string, key: string, url = '/api/conversions?limit=1') {
    const res = await t.app.inject({
      method: 'GET',
      url,
      remoteAddress: address,
      headers: { authorization: `Bearer ${key}` },
    });
    return { status: res.statusCode, body: JSON.parse(res.body) as unknown, headers: res.headers };
  }

  it('never shows a support key any part of the bootstrap secret', async () => {
    const r = await api.request('GET', '/admin/keys', { key: support });
    expect(r.status).toBe(200);
    const boot = (r.body.items as { name: string; prefix: string }[]).find(
      (k) => k.name === 'bootstrap (BOOTSTRAP_ADMIN_KEY)',
    );
    expect(boot?.prefix).toMatch(/^thr_ak_\[h:[0-9a-f]{8}\]$/);
    // A test key's fixed public prefix (thr_test_) is no part of any secret: only what follows it is checked.
    const prefixes = (r.body.items as { prefix: string }[])
      .map((k) => (k.prefix.startsWith(TEST_KEY_PREFIX) ? k.prefix.slice(TEST_KEY_PREFIX.length) : k.prefix))
      .join(' ');
    for (let i = 0; i + 4 <= ADMIN_KEY.length; i++) expect(prefixes).not.toContain(ADMIN_KEY.slice(i, i + 4));
  });

  it('a migration replaces the readable prefix a bootstrap key was given before, in its audit entries too', async () => {
    const ds = t.app.get(DataSource);
    const bootId = (await api.request('GET', '/admin/keys', { key: support })).body.items.find(
      (k: { name: string }) => k.name === 'bootstrap (BOOTSTRAP_ADMIN_KEY)',
    ).id as string;
    // As the old code stored it, and as a revocation would have copied it into the audit log.
    const leaked = ADMIN_KEY.slice(0, 12);
    await ds
      .createQueryBuilder()
      .update('api_keys')
      .set({ prefix: leaked })
      .where('id = :id', { id: bootId })
      .execute();
    const auditId = randomUUID();
    await ds
      .createQueryBuilder()
      .insert()
      .into('audit_log')
      .values({
        id: auditId,
        at: new Date(),
        actor_key_id: bootId,
        actor_role: 'admin',
        action: 'key.revoke',
        target_type: 'api_key',
        target_id: bootId,
        before: { id: bootId, prefix: leaked, revoked_at: null },
        after: { id: bootId, prefix: leaked, revoked_at: '2026-05-26T12:00:00.000Z' },
      })
      .execute();
    const qr = ds.createQueryRunner();
    try {
      await new HideSuppliedKeyPrefixes1764900000010().up(qr);
    } finally {
      await qr.release();
    }
    const hidden = suppliedKeyPrefix('admin', hashKey(ADMIN_KEY));
    const r = await api.request('GET', '/admin/keys', { key: support });
    const boot = (r.body.items as { id: string; prefix: string }[]).find((k) => k.id === bootId);
    expect(boot?.prefix).toBe(hidden);
    const audit = await api.request('GET', `/admin/audit?target_id=${bootId}`, { key: support });
    const entry = (audit.body.items as { id: string; before: object; after: object }[]).find((e) => e.id === auditId);
    expect(entry).toMatchObject({
      before: { id: bootId, prefix: hidden, revoked_at: null },
      after: { id: bootId, prefix: hidden, revoked_at: '2026-05-26T12:00:00.000Z' },
    });
    // Put it back as it was (the bootstrap key is not revoked): the audit entry was a fixture.
    await ds.createQueryBuilder().delete().from('audit_log').where('id = :id', { id: auditId }).execute();
  });

  it('shows the role prefix and 5 random characters of a generated key', async () => {
    const r = await api.request('GET', `/admin/keys?partner_id=${f.partnerId}`, { key: support });
    expect(r.body.items).toEqual([expect.objectContaining({ role: 'partner', prefix: f.partnerKey.slice(0, 12) })]);
    expect(JSON.stringify(r.body)).not.toContain(f.partnerKey.slice(0, 13));
  });

  it('answers 429 with Retry-After past the limit of invalid keys from one address; valid keys still work', async () => {
    const attacker = '203.0.113.7';
    for (let i = 0; i < 5; i++) {
      expect(await from(attacker, `thr_pk_guess-${i}`)).toMatchObject({
        status: 401,
        body: { detail: 'Invalid API key' },
      });
    }
    const limited = await from(attacker, 'thr_pk_guess-5');
    expect(limited).toMatchObject({ status: 429, body: { detail: 'Too many requests' } });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);
    // A valid key from the throttled address (say, a NAT shared with the attacker) is served.
    expect((await from(attacker, f.partnerKey)).status).toBe(200);
    expect((await from(attacker, ADMIN_KEY, '/admin/keys')).status).toBe(200);
    // The throttle is per address.
    expect((await from('198.51.100.1', 'thr_pk_guess-6')).status).toBe(401);
    // Valid requests neither count nor reset the failures: still throttled.
    expect((await from(attacker, 'thr_pk_guess-7')).status).toBe(429);
  });
});
