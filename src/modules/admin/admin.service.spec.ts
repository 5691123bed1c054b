import { strictMock, StrictMock } from '../../../test/strict-mock';
import { loadConfig } from '../../config/app-config';
import { TransactionScope } from '../../database/transaction-scope';
import { AuditService } from '../audit/audit.service';
import { AuthService, KeyMetadata } from '../auth/auth.service';
import type { Principal } from '../auth/principal';
import { ConversionReadsService } from '../conversions/conversion-reads.service';
import { PartnersService, PartnerStateView } from '../partners/partners.service';
import { AdminService } from './admin.service';

const actor: Principal = { keyId: 'k-admin', role: 'admin', partnerId: null, mode: 'live' };
const AT = '2026-05-26T12:00:00.000Z';

function key(over: Partial<KeyMetadata> = {}): KeyMetadata {
  return {
    id: 'k1',
    role: 'partner',
    mode: 'live',
    partner_id: 'p1',
    name: null,
    prefix: 'thr_pk_abcde',
    created_at: AT,
    expires_at: null,
    last_used_at: null,
    revoked_at: null,
    ...over,
  };
}

function state(over: Partial<PartnerStateView> = {}): PartnerStateView {
  return { id: 'p1', name: 'Acme', disabled_at: null, created_at: AT, ...over };
}

describe('AdminService (strict mocks)', () => {
  let partners: StrictMock<PartnersService>;
  let auth: StrictMock<AuthService>;
  let audit: StrictMock<AuditService>;
  let tx: StrictMock<TransactionScope>;
  let sut: AdminService;
  /** What happened, in order: service calls, audit entries, and the transaction's edges. */
  let events: string[];

  beforeEach(() => {
    partners = strictMock(PartnersService);
    auth = strictMock(AuthService);
    audit = strictMock(AuditService);
    tx = strictMock(TransactionScope);
    events = [];
    tx.run.mockImplementation(async (fn) => {
      events.push('begin');
      const r = await fn();
      events.push('commit');
      return r;
    });
    audit.record.mockImplementation(async (_a, action) => {
      events.push(`audit ${action}`);
    });
    sut = new AdminService(
      partners,
      auth,
      strictMock(ConversionReadsService),
      audit,
      tx,
      loadConfig({ RATE_LIMIT_PER_MINUTE: '600' }),
    );
  });

  it('creates a partner and audits it inside one transaction', async () => {
    partners.createPartner.mockImplementationOnce(async (name) => {
      events.push('create');
      return { id: 'p1', name, created_at: AT };
    });
    expect(await sut.createPartner(actor, { name: 'Acme' })).toEqual({ id: 'p1', name: 'Acme', created_at: AT });
    expect(events).toEqual(['begin', 'create', 'audit partner.create', 'commit']);
    expect(audit.record).toHaveBeenCalledWith(actor, 'partner.create', 'partner', 'p1', null, {
      id: 'p1',
      name: 'Acme',
      created_at: AT,
    });
  });

  it('an audit failure fails the write (the transaction rolls it back)', async () => {
    partners.createPartner.mockResolvedValueOnce({ id: 'p1', name: 'Acme', created_at: AT });
    audit.record.mockRejectedValueOnce(new Error('audit_log is full'));
    await expect(sut.createPartner(actor, { name: 'Acme' })).rejects.toThrow('audit_log is full');
    expect(events).toEqual(['begin']);
  });

  describe('createApiKey', () => {
    it('partner_id is required for a partner key: 422 missing, nothing created', async () => {
      await expect(sut.createApiKey(actor, { role: 'partner' })).rejects.toMatchObject({
        code: 'validation',
        detail: [expect.objectContaining({ type: 'missing', loc: ['body', 'partner_id'] })],
      });
      expect(tx.run).not.toHaveBeenCalled();
    });

    it('partner_id is refused on other roles: 422 extra_forbidden', async () => {
      await expect(sut.createApiKey(actor, { role: 'ingest', partner_id: 'p1' })).rejects.toMatchObject({
        code: 'validation',
        detail: [expect.objectContaining({ type: 'extra_forbidden', loc: ['body', 'partner_id'] })],
      });
    });

    it('an unknown partner is a 404 and no key is made', async () => {
      partners.partnerExists.mockResolvedValueOnce(false);
      await expect(sut.createApiKey(actor, { role: 'partner', partner_id: 'nope' })).rejects.toMatchObject({
        code: 'partner_not_found',
      });
      expect(auth.createApiKey).not.toHaveBeenCalled();
    });

    it('issues the key and audits its metadata (never the secret)', async () => {
      partners.partnerExists.mockResolvedValueOnce(true);
      const issued = {
        id: 'k1',
        role: 'partner' as const,
        mode: 'live' as const,
        partner_id: 'p1',
        name: 'backend',
        key: 'thr_pk_secret',
        created_at: AT,
      };
      auth.createApiKey.mockResolvedValueOnce(issued);
      auth.getKey.mockResolvedValueOnce(key({ name: 'backend' }));
      expect(await sut.createApiKey(actor, { role: 'partner', partner_id: 'p1', name: 'backend' })).toBe(issued);
      expect(auth.createApiKey).toHaveBeenCalledWith({
        role: 'partner',
        partner_id: 'p1',
        name: 'backend',
        mode: 'live',
      });
      expect(audit.record).toHaveBeenCalledWith(actor, 'key.create', 'api_key', 'k1', null, key({ name: 'backend' }));
      expect(events).toEqual(['begin', 'audit key.create', 'commit']);
    });
  });

  describe('idempotent writes audit only a change', () => {
    it('revoking a revoked key writes no entry', async () => {
      auth.getKey.mockResolvedValueOnce(key({ revoked_at: AT }));
      auth.revokeApiKey.mockResolvedValueOnce(undefined);
      await sut.revokeApiKey(actor, 'k1');
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('revoking a live key audits before and after', async () => {
      auth.getKey.mockResolvedValueOnce(key()).mockResolvedValueOnce(key({ revoked_at: AT }));
      auth.revokeApiKey.mockResolvedValueOnce(undefined);
      await sut.revokeApiKey(actor, 'k1');
      expect(audit.record).toHaveBeenCalledWith(actor, 'key.revoke', 'api_key', 'k1', key(), key({ revoked_at: AT }));
    });

    it('disabling: audited once; the partner’s cached keys are dropped after the commit, every time', async () => {
      auth.forgetPartner.mockImplementation(() => void events.push('forget'));
      partners.setPartnerDisabled.mockResolvedValueOnce({ before: state(), after: state({ disabled_at: AT }) });
      expect((await sut.disablePartner(actor, 'p1')).disabled_at).toBe(AT);
      partners.setPartnerDisabled.mockResolvedValueOnce({
        before: state({ disabled_at: AT }),
        after: state({ disabled_at: AT }),
      });
      await sut.disablePartner(actor, 'p1');
      expect(events).toEqual(['begin', 'audit partner.disable', 'commit', 'forget', 'begin', 'commit', 'forget']);
      expect(auth.forgetPartner).toHaveBeenCalledWith('p1');
    });

    it('enabling an enabled partner writes no entry', async () => {
      auth.forgetPartner.mockImplementation(() => undefined);
      partners.setPartnerDisabled.mockResolvedValueOnce({ before: state(), after: state() });
      await sut.enablePartner(actor, 'p1');
      expect(audit.record).not.toHaveBeenCalled();
    });

    it('setting the same rate limit writes no entry; the effective limit falls back to the default', async () => {
      partners.setRateLimit.mockResolvedValueOnce(null);
      expect(await sut.setPartnerRateLimit(actor, 'p1', null)).toEqual({
        partner_id: 'p1',
        rate_limit_per_minute: null,
        effective_per_minute: 600,
      });
      expect(audit.record).not.toHaveBeenCalled();
      partners.setRateLimit.mockResolvedValueOnce(null);
      expect((await sut.setPartnerRateLimit(actor, 'p1', 0)).effective_per_minute).toBe(0);
      expect(audit.record).toHaveBeenCalledWith(
        actor,
        'partner.rate_limit',
        'partner',
        'p1',
        { rate_limit_per_minute: null },
        { rate_limit_per_minute: 0 },
      );
    });
  });

  it('rotating audits the old key’s new expiry and the new key, in one transaction', async () => {
    const issued = {
      id: 'k2',
      role: 'partner' as const,
      mode: 'live' as const,
      partner_id: 'p1',
      name: null,
      key: 'thr_pk_new',
      created_at: AT,
      replaces: { id: 'k1', expires_at: AT },
    };
    auth.rotateApiKey.mockResolvedValueOnce({ before: key(), after: key({ expires_at: AT }), issued });
    auth.getKey.mockResolvedValueOnce(key({ id: 'k2' }));
    expect(await sut.rotateApiKey(actor, 'k1', { grace_seconds: 60 })).toBe(issued);
    expect(auth.rotateApiKey).toHaveBeenCalledWith('k1', 60_000);
    expect(events).toEqual(['begin', 'audit key.rotate', 'audit key.create', 'commit']);
    expect(audit.record).toHaveBeenCalledWith(actor, 'key.rotate', 'api_key', 'k1', key(), {
      ...key({ expires_at: AT }),
      replaced_by: 'k2',
      grace_seconds: 60,
    });
    expect(audit.record).toHaveBeenCalledWith(actor, 'key.create', 'api_key', 'k2', null, {
      ...key({ id: 'k2' }),
      replaces: 'k1',
    });
  });

  it('a bad rotate body is a 422 before any transaction opens', async () => {
    await expect(sut.rotateApiKey(actor, 'k1', { grace_seconds: -1 })).rejects.toMatchObject({ code: 'validation' });
    expect(tx.run).not.toHaveBeenCalled();
  });
});
