import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { ApiKey } from '../src/modules/auth/api-key.entity';
import { AuthService } from '../src/modules/auth/auth.service';
import { ApiClient, conversionBody, makeClick, makePartner } from './api-client';
import { makeKey } from './admin-helpers';
import { ADMIN_KEY, createTestApp, useTestApp } from './test-app';

const ISO = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

describe('Admin writes (e2e)', () => {
  const { t, api, partner: f } = useTestApp();
  let support: string;
  const req = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, key: string, body?: unknown) =>
    api.request(method, url, { key, body });

  beforeAll(async () => {
    support = (await makeKey(api, 'support')).key;
  });
  afterEach(() => {
    t.clock.offsetMs = 0;
  });

  it('support keys get 403 on every write, before the body is looked at', async () => {
    const keyId = (await makeKey(api, 'ingest')).id;
    const writes: ['POST' | 'PATCH' | 'DELETE', string, unknown][] = [
      ['POST', '/admin/partners', { name: 'x' }],
      ['POST', `/admin/partners/${f.partnerId}/tags`, { name: 'x' }],
      ['POST', '/admin/keys', { role: 'support' }],
      ['DELETE', `/admin/keys/${keyId}`, undefined],
      ['POST', `/admin/keys/${keyId}/rotate`, {}],
      ['PATCH', `/admin/partners/${f.partnerId}`, { name: 'x' }],
      ['POST', `/admin/partners/${f.partnerId}/disable`, undefined],
      ['POST', `/admin/partners/${f.partnerId}/enable`, undefined],
      ['PATCH', `/admin/tags/${f.tagId}`, { name: 'x' }],
      ['PATCH', `/admin/partners/${f.partnerId}`, 'not json at all'],
    ];
    for (const [method, url, body] of writes) {
      const r = await req(method, url, support, body);
      expect({ method, url, status: r.status, body: r.body }).toEqual({
        method,
        url,
        status: 403,
        body: { detail: 'This API key may not call this endpoint' },
      });
      const p = await req(method, url, f.partnerKey, body);
      expect(p.status).toBe(403);
    }
    // Nothing changed.
    const p = await req('GET', `/admin/partners/${f.partnerId}`, support);
    expect(p.body.disabled_at).toBeNull();
    expect(
      (await req('GET', `/admin/keys`, support)).body.items.find((k: { id: string }) => k.id === keyId).revoked_at,
    ).toBeNull();
  });

  describe('partners', () => {
    it('lists and reads a partner with its tags and keys (never secrets)', async () => {
      const f = await makePartner(api);
      const list = await req('GET', '/admin/partners', support);
      expect(list.status).toBe(200);
      expect(list.body.items).toContainEqual({
        id: f.partnerId,
        name: expect.any(String),
        disabled_at: null,
        created_at: ISO,
      });
      const one = await req('GET', `/admin/partners/${f.partnerId}`, support);
      expect(one.status).toBe(200);
      expect(one.body).toEqual({
        id: f.partnerId,
        name: expect.any(String),
        disabled_at: null,
        created_at: ISO,
        attribution: { window_days: null, effective_window_days: 30, policy: 'flag' },
        tags: [
          {
            id: f.tagId,
            partner_id: f.partnerId,
            name: 'main',
            allowed_origins: ['https://shop.example.com'],
            created_at: ISO,
          },
        ],
        keys: [
          {
            id: expect.any(String),
            role: 'partner',
            mode: 'live',
            partner_id: f.partnerId,
            name: null,
            prefix: f.partnerKey.slice(0, 12),
            created_at: ISO,
            expires_at: null,
            last_used_at: null,
            revoked_at: null,
          },
        ],
      });
      expect(JSON.stringify(one.body)).not.toContain(f.partnerKey);
      const missing = await req('GET', '/admin/partners/nope', support);
      expect(missing).toMatchObject({ status: 404, body: { detail: 'Partner not found' } });
      const keys = await req('GET', `/admin/keys?partner_id=${f.partnerId}`, support);
      expect(keys.body).toEqual({ items: one.body.keys });
      expect(JSON.stringify((await req('GET', '/admin/keys', support)).body)).not.toMatch(/key_hash|"key"/);
    });

    it('renames', async () => {
      const p = await makePartner(api, 'Old Name');
      const r = await req('PATCH', `/admin/partners/${p.partnerId}`, ADMIN_KEY, { name: 'New Name' });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ id: p.partnerId, name: 'New Name', disabled_at: null, created_at: ISO });
      expect((await req('GET', `/admin/partners/${p.partnerId}`, support)).body.name).toBe('New Name');
      const bad = await req('PATCH', `/admin/partners/${p.partnerId}`, ADMIN_KEY, { name: '' });
      expect(bad.status).toBe(422);
      expect(bad.body).toEqual({
        detail: [
          {
            type: 'string_too_short',
            loc: ['body', 'name'],
            msg: 'String should have at least 1 character',
            input: '',
            ctx: { min_length: 1 },
          },
        ],
      });
      expect((await req('PATCH', '/admin/partners/nope', ADMIN_KEY, { name: 'x' })).status).toBe(404);
    });

    it("disabling stops the partner's keys at once; enabling restores them", async () => {
      const p = await makePartner(api);
      const click = await makeClick(api, p);
      expect((await api.post('/api/conversion', conversionBody(click), p.partnerKey)).status).toBe(200);
      const d = await req('POST', `/admin/partners/${p.partnerId}/disable`, ADMIN_KEY);
      expect(d.status).toBe(200);
      expect(d.body).toEqual({ id: p.partnerId, name: expect.any(String), disabled_at: ISO, created_at: ISO });
      const refused = await api.post('/api/conversion', conversionBody(click), p.partnerKey);
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ detail: 'Invalid API key' });
      expect((await req('GET', '/api/conversions', p.partnerKey)).status).toBe(401);
      // Idempotent: disabling again keeps the first instant.
      const again = await req('POST', `/admin/partners/${p.partnerId}/disable`, ADMIN_KEY);
      expect(again.body.disabled_at).toBe(d.body.disabled_at);
      // Other partners are untouched.
      expect((await req('GET', '/api/conversions', f.partnerKey)).status).toBe(200);
      const e = await req('POST', `/admin/partners/${p.partnerId}/enable`, ADMIN_KEY);
      expect(e.body.disabled_at).toBeNull();
      expect((await api.post('/api/conversion', conversionBody(click), p.partnerKey)).status).toBe(200);
      expect((await req('POST', '/admin/partners/nope/disable', ADMIN_KEY)).status).toBe(404);
    });
  });

  describe('tags', () => {
    it('renames and replaces allowed origins (normalised)', async () => {
      const p = await makePartner(api);
      const r = await req('PATCH', `/admin/tags/${p.tagId}`, ADMIN_KEY, {
        name: 'checkout',
        allowed_origins: ['https://A.example.com/', 'http://b.example.com:8080'],
      });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        id: p.tagId,
        partner_id: p.partnerId,
        name: 'checkout',
        allowed_origins: ['https://a.example.com', 'http://b.example.com:8080'],
        created_at: ISO,
      });
      const onlyName = await req('PATCH', `/admin/tags/${p.tagId}`, ADMIN_KEY, { name: 'renamed' });
      expect(onlyName.body.allowed_origins).toEqual(['https://a.example.com', 'http://b.example.com:8080']);
      const bad = await req('PATCH', `/admin/tags/${p.tagId}`, ADMIN_KEY, {
        allowed_origins: ['https://ok.example.com', 'https://x.example.com/path'],
      });
      expect(bad.status).toBe(422);
      expect(bad.body).toEqual({
        detail: [
          {
            type: 'value_error',
            loc: ['body', 'allowed_origins', 1],
            msg: 'Value error, must be an origin like https://shop.example.com',
            input: 'https://x.example.com/path',
            ctx: { error: 'must be an origin like https://shop.example.com' },
          },
        ],
      });
      expect((await req('GET', `/admin/partners/${p.partnerId}`, support)).body.tags[0]).toMatchObject({
        name: 'renamed',
        allowed_origins: ['https://a.example.com', 'http://b.example.com:8080'],
      });
      expect((await req('PATCH', '/admin/tags/nope', ADMIN_KEY, { name: 'x' })).status).toBe(404);
    });
  });

  describe('key rotation', () => {
    it('issues a new secret; the old one works through the grace period, then stops', async () => {
      const p = await makePartner(api);
      const oldId = (await req('GET', `/admin/keys?partner_id=${p.partnerId}`, support)).body.items[0].id;
      const r = await req('POST', `/admin/keys/${oldId}/rotate`, ADMIN_KEY, { grace_seconds: 3600 });
      expect(r.status).toBe(201);
      expect(r.body).toEqual({
        id: expect.any(String),
        role: 'partner',
        mode: 'live',
        partner_id: p.partnerId,
        name: null,
        key: expect.stringMatching(/^thr_pk_/),
        created_at: ISO,
        replaces: { id: oldId, expires_at: ISO },
      });
      const now = Date.now();
      expect(Date.parse(r.body.replaces.expires_at)).toBeGreaterThan(now + 3590_000);
      expect(Date.parse(r.body.replaces.expires_at)).toBeLessThanOrEqual(now + 3600_000);
      expect((await req('GET', '/api/conversions', r.body.key)).status).toBe(200);
      expect((await req('GET', '/api/conversions', p.partnerKey)).status).toBe(200);
      t.clock.offsetMs = 3599_000;
      expect((await req('GET', '/api/conversions', p.partnerKey)).status).toBe(200);
      t.clock.offsetMs = 3601_000;
      const expired = await req('GET', '/api/conversions', p.partnerKey);
      expect(expired).toMatchObject({ status: 401, body: { detail: 'Invalid API key' } });
      expect((await req('GET', '/api/conversions', r.body.key)).status).toBe(200);
      const keys = (await req('GET', `/admin/keys?partner_id=${p.partnerId}`, support)).body.items;
      expect(keys.map((k: { id: string; expires_at: string | null }) => [k.id, k.expires_at])).toEqual([
        [oldId, r.body.replaces.expires_at],
        [r.body.id, null],
      ]);
      // A key that no longer works cannot be rotated.
      const late = await req('POST', `/admin/keys/${oldId}/rotate`, ADMIN_KEY, {});
      expect(late).toMatchObject({ status: 409, body: { detail: 'The API key has expired' } });
    });

    it('defaults to 24 hours without a body; 0 ends the old secret now; revoked keys are 409', async () => {
      const k = await makeKey(api, 'ingest');
      const r = await api.request('POST', `/admin/keys/${k.id}/rotate`, { key: ADMIN_KEY });
      expect(r.status).toBe(201);
      const exp = Date.parse(r.body.replaces.expires_at) - Date.now();
      expect(exp).toBeGreaterThan(86_390_000);
      expect(exp).toBeLessThanOrEqual(86_400_000);
      // Rotating the new one with 0 grace: it stops at once; a shorter grace never extends.
      const r2 = await req('POST', `/admin/keys/${r.body.id}/rotate`, ADMIN_KEY, { grace_seconds: 0 });
      expect(r2.status).toBe(201);
      expect((await api.post('/api/clicks', { tag_id: f.tagId }, r.body.key)).status).toBe(401);
      expect((await api.post('/api/clicks', { tag_id: f.tagId }, r2.body.key)).status).toBe(201);
      expect((await req('DELETE', `/admin/keys/${r2.body.id}`, ADMIN_KEY)).status).toBe(204);
      const revoked = await req('POST', `/admin/keys/${r2.body.id}/rotate`, ADMIN_KEY, {});
      expect(revoked).toMatchObject({ status: 409, body: { detail: 'The API key is revoked' } });
      expect((await req('POST', '/admin/keys/nope/rotate', ADMIN_KEY, {})).status).toBe(404);
    });

    it.each([
      [
        { grace_seconds: -1 },
        {
          type: 'greater_than_equal',
          loc: ['body', 'grace_seconds'],
          msg: 'Input should be greater than or equal to 0',
          input: -1,
          ctx: { ge: 0 },
        },
      ],
      [
        { grace_seconds: 2_592_001 },
        {
          type: 'less_than_equal',
          loc: ['body', 'grace_seconds'],
          msg: 'Input should be less than or equal to 2592000',
          input: 2_592_001,
          ctx: { le: 2_592_000 },
        },
      ],
      [
        { grace_seconds: 1.5 },
        { type: 'int_type', loc: ['body', 'grace_seconds'], msg: 'Input should be a valid integer', input: 1.5 },
      ],
      [
        { grace_seconds: '60' },
        { type: 'int_type', loc: ['body', 'grace_seconds'], msg: 'Input should be a valid integer', input: '60' },
      ],
      [
        [1],
        {
          type: 'model_attributes_type',
          loc: ['body'],
          msg: 'Input should be a valid dictionary or object to extract fields from',
          input: [1],
        },
      ],
    ])('rotate body %j is a 422', async (body, issue) => {
      const k = await makeKey(api, 'ingest');
      const r = await req('POST', `/admin/keys/${k.id}/rotate`, ADMIN_KEY, body);
      expect(r.status).toBe(422);
      expect(r.body).toEqual({ detail: [issue] });
      expect(
        (await req('GET', '/admin/keys', support)).body.items.find((x: { id: string }) => x.id === k.id).expires_at,
      ).toBeNull();
    });
  });

  describe('last_used_at', () => {
    it('is shown at once but written in batches, not per request', async () => {
      const k = await makeKey(api, 'ingest');
      const ds = t.app.get(DataSource);
      const before = Date.now();
      expect((await api.post('/api/clicks', { tag_id: f.tagId }, k.key)).status).toBe(201);
      const listed = (await req('GET', '/admin/keys', support)).body.items.find((x: { id: string }) => x.id === k.id);
      expect(Date.parse(listed.last_used_at)).toBeGreaterThanOrEqual(before - 5);
      expect((await ds.getRepository(ApiKey).findOneByOrFail({ id: k.id })).last_used_at).toBeNull();
      await t.app.get(AuthService).flushLastUsed();
      const stored = (await ds.getRepository(ApiKey).findOneByOrFail({ id: k.id })).last_used_at;
      expect(stored?.toISOString()).toBe(listed.last_used_at);
    });

    it('is written at shutdown', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'thrad-lu-'));
      const env = { SQLITE_PATH: join(dir, 'db.sqlite') };
      const t1 = await createTestApp(env);
      const api1 = new ApiClient(t1.app);
      const k = await api1.post('/admin/keys', { role: 'support' }, ADMIN_KEY);
      expect((await api1.request('GET', '/admin/partners', { key: k.body.key })).status).toBe(200);
      await t1.close();
      const t2 = await createTestApp(env);
      try {
        const row = await t2.app.get(DataSource).getRepository(ApiKey).findOneByOrFail({ id: k.body.id });
        expect(row.last_used_at).toBeInstanceOf(Date);
      } finally {
        await t2.close();
      }
    });
  });

  describe('audit log', () => {
    it('records who did what, when, before and after, never a secret; pages newest first', async () => {
      const admin = await makeKey(api, 'admin');
      const p = await api.post('/admin/partners', { name: 'Audited' }, admin.key);
      const pid = p.body.id;
      await req('PATCH', `/admin/partners/${pid}`, admin.key, { name: 'Audited Inc' });
      await req('POST', `/admin/partners/${pid}/disable`, admin.key);
      const key = await req('POST', '/admin/keys', admin.key, { role: 'partner', partner_id: pid });
      const rot = await req('POST', `/admin/keys/${key.body.id}/rotate`, admin.key, { grace_seconds: 60 });
      await req('DELETE', `/admin/keys/${rot.body.id}`, admin.key);

      const r = await req('GET', `/admin/audit?target_id=${pid}`, support);
      expect(r.status).toBe(200);
      const actor = { key_id: admin.id, role: 'admin' };
      expect(r.body).toEqual({
        items: [
          {
            id: expect.any(String),
            at: ISO,
            actor,
            action: 'partner.disable',
            target_type: 'partner',
            target_id: pid,
            before: { id: pid, name: 'Audited Inc', disabled_at: null, created_at: ISO },
            after: { id: pid, name: 'Audited Inc', disabled_at: ISO, created_at: ISO },
          },
          {
            id: expect.any(String),
            at: ISO,
            actor,
            action: 'partner.rename',
            target_type: 'partner',
            target_id: pid,
            before: { id: pid, name: 'Audited', disabled_at: null, created_at: ISO },
            after: { id: pid, name: 'Audited Inc', disabled_at: null, created_at: ISO },
          },
          {
            id: expect.any(String),
            at: ISO,
            actor,
            action: 'partner.create',
            target_type: 'partner',
            target_id: pid,
            before: null,
            after: { id: pid, name: 'Audited', created_at: ISO },
          },
        ],
        next_cursor: null,
      });
      const byActor = await req('GET', `/admin/audit?actor_key_id=${admin.id}&limit=2`, support);
      expect(byActor.body.items.map((e: { action: string }) => e.action)).toEqual(['key.revoke', 'key.create']);
      const page2 = await req(
        'GET',
        `/admin/audit?actor_key_id=${admin.id}&limit=2&cursor=${byActor.body.next_cursor}`,
        support,
      );
      const page3 = await req(
        'GET',
        `/admin/audit?actor_key_id=${admin.id}&limit=2&cursor=${page2.body.next_cursor}`,
        support,
      );
      const page4 = await req(
        'GET',
        `/admin/audit?actor_key_id=${admin.id}&limit=2&cursor=${page3.body.next_cursor}`,
        support,
      );
      const all = [...byActor.body.items, ...page2.body.items, ...page3.body.items, ...page4.body.items];
      expect(page4.body.next_cursor).toBeNull();
      expect(all.map((e: { action: string }) => e.action).sort()).toEqual(
        [
          'key.create',
          'key.create',
          'key.revoke',
          'key.rotate',
          'partner.create',
          'partner.disable',
          'partner.rename',
        ].sort(),
      );
      const rotation = all.find((e: { action: string }) => e.action === 'key.rotate');
      expect(rotation).toMatchObject({
        target_id: key.body.id,
        before: { expires_at: null },
        after: { expires_at: rot.body.replaces.expires_at, replaced_by: rot.body.id, grace_seconds: 60 },
      });
      const text = JSON.stringify(all);
      expect(text).not.toContain(key.body.key);
      expect(text).not.toContain(rot.body.key);
      expect(text).not.toContain('key_hash');
      const bad = await req('GET', '/admin/audit?limit=0', support);
      expect(bad.status).toBe(422);
    });
  });
});
