import { randomUUID } from 'node:crypto';
import { AuditEntry } from '../src/modules/audit/audit-entry.entity';
import { AuditRepository } from '../src/modules/audit/audit.repository';
import { conversionBody, makeClick, makePartner } from './api-client';
import { makeKey } from './admin-helpers';
import { db } from './db';
import { ADMIN_KEY, useTestApp } from './test-app';

/*
 * An admin write and its audit entry are one transaction: when the audit insert fails (here for
 * real, in the database: a NOT NULL column left null), the write is rolled back too.
 */
describe('admin writes and their audit entries are atomic (e2e)', () => {
  const { t, api } = useTestApp({ partners: 0 });
  afterEach(() => jest.restoreAllMocks());

  /** The next audit insert reaches the database with a row it refuses. */
  function failNextAuditInsert(): void {
    const repo = t.app.get(AuditRepository);
    const insert = repo.insert.bind(repo);
    jest
      .spyOn(repo, 'insert')
      .mockImplementationOnce((e: AuditEntry) => insert({ ...e, action: null as unknown as string }));
  }

  const get = (url: string, key = ADMIN_KEY) => api.request('GET', url, { key });

  it('creating a partner: no partner without its entry', async () => {
    const name = `atomic-${randomUUID()}`;
    failNextAuditInsert();
    const r = await api.post('/admin/partners', { name }, ADMIN_KEY);
    expect(r.status).toBe(500);
    const list = await get('/admin/partners');
    expect(list.body.items.map((p: { name: string }) => p.name)).not.toContain(name);
    // The same write with a working audit log goes through, entry and all.
    const ok = await api.post('/admin/partners', { name }, ADMIN_KEY);
    expect(ok.status).toBe(201);
    const audit = await get(`/admin/audit?target_id=${ok.body.id}`);
    expect(audit.body.items.map((e: { action: string }) => e.action)).toEqual(['partner.create']);
  });

  it('renaming a partner and updating a tag: the old values stay', async () => {
    const f = await makePartner(api, 'Before');
    failNextAuditInsert();
    expect(
      (await api.request('PATCH', `/admin/partners/${f.partnerId}`, { key: ADMIN_KEY, body: { name: 'After' } }))
        .status,
    ).toBe(500);
    failNextAuditInsert();
    const tag = await api.request('PATCH', `/admin/tags/${f.tagId}`, { key: ADMIN_KEY, body: { name: 'renamed' } });
    expect(tag.status).toBe(500);
    const p = await get(`/admin/partners/${f.partnerId}`);
    expect(p.body.name).toBe('Before');
    expect(p.body.tags.map((x: { name: string }) => x.name)).toEqual(['main']);
  });

  it('creating a key: no key is left; revoking a key: it keeps working', async () => {
    const f = await makePartner(api);
    failNextAuditInsert();
    const created = await api.post('/admin/keys', { role: 'partner', partner_id: f.partnerId }, ADMIN_KEY);
    expect(created.status).toBe(500);
    const keys = await get(`/admin/keys?partner_id=${f.partnerId}`);
    expect(keys.body.items).toHaveLength(1); // only makePartner's key

    const support = await makeKey(api, 'support');
    failNextAuditInsert();
    expect((await api.request('DELETE', `/admin/keys/${support.id}`, { key: ADMIN_KEY })).status).toBe(500);
    expect((await get('/admin/partners', support.key)).status).toBe(200);
  });

  it('disabling a partner: its keys keep working; rotating a key: the old one keeps its life', async () => {
    const f = await makePartner(api);
    const click = await makeClick(api, f);
    failNextAuditInsert();
    expect((await api.post(`/admin/partners/${f.partnerId}/disable`, {}, ADMIN_KEY)).status).toBe(500);
    expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status).toBe(200);

    const keys = await get(`/admin/keys?partner_id=${f.partnerId}`);
    const id = keys.body.items[0].id as string;
    failNextAuditInsert();
    expect((await api.post(`/admin/keys/${id}/rotate`, { grace_seconds: 0 }, ADMIN_KEY)).status).toBe(500);
    const after = await get(`/admin/keys?partner_id=${f.partnerId}`);
    expect(after.body.items).toHaveLength(1);
    expect(after.body.items[0]).toMatchObject({ id, expires_at: null });
    expect((await api.post('/api/conversion', conversionBody(click), f.partnerKey)).status).toBe(200);
  });

  it("setting a partner's rate limit: the old limit stays", async () => {
    const f = await makePartner(api);
    failNextAuditInsert();
    const r = await api.request('PUT', `/admin/partners/${f.partnerId}/rate-limit`, {
      key: ADMIN_KEY,
      body: { rate_limit_per_minute: 7 },
    });
    expect(r.status).toBe(500);
    const ds = db(t);
    const [row] = await ds.query(
      `SELECT rate_limit_per_minute FROM partners WHERE id = ${ds.options.type === 'postgres' ? '$1' : '?'}`,
      [f.partnerId],
    );
    expect(row).toEqual({ rate_limit_per_minute: null });
  });
});
