import { strictMock, StrictMock } from '../../../test/strict-mock';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { loadConfig } from '../../config/app-config';
import { Partner } from './partner.entity';
import { PartnersRepository } from './partners.repository';
import { PartnersService } from './partners.service';
import { Tag } from './tag.entity';

const NOW = new Date('2026-05-26T12:00:00.000Z');
const TTL = 5000;

function partner(over: Partial<Partner> = {}): Partner {
  return { id: 'p1', name: 'Acme', disabled_at: null, created_at: NOW, rate_limit_per_minute: null, ...over };
}

function tag(over: Partial<Tag> = {}): Tag {
  return {
    id: 't1',
    partner_id: 'p1',
    name: 'main',
    allowed_origins: ['https://shop.example.com'],
    created_at: NOW,
    ...over,
  };
}

describe('PartnersService (strict mocks)', () => {
  let repo: StrictMock<PartnersRepository>;
  let clock: StrictMock<Clock>;
  let sut: PartnersService;

  beforeEach(() => {
    jest.useFakeTimers({ now: NOW, doNotFake: ['nextTick', 'setImmediate'] });
    repo = strictMock(PartnersRepository);
    clock = strictMock(Clock);
    clock.now.mockReturnValue(NOW);
    sut = new PartnersService(repo, clock, loadConfig({ KEY_CACHE_TTL_MS: String(TTL) }));
  });
  afterEach(() => jest.useRealTimers());

  describe('rate limits', () => {
    it('caches a partner’s own limit for KEY_CACHE_TTL_MS, then reads it again', async () => {
      repo.findRateLimit.mockResolvedValueOnce(30);
      expect(await sut.rateLimitOf('p1')).toBe(30);
      expect(await sut.rateLimitOf('p1')).toBe(30); // cached: a second read would throw
      jest.advanceTimersByTime(TTL);
      repo.findRateLimit.mockResolvedValueOnce(40);
      expect(await sut.rateLimitOf('p1')).toBe(40);
      expect(repo.findRateLimit).toHaveBeenCalledTimes(2);
    });

    it('concurrent misses make one read (a stampede of a batch or of many connections when the entry expires)', async () => {
      repo.findRateLimit.mockResolvedValueOnce(30);
      repo.findAttribution.mockResolvedValueOnce(undefined);
      const limits = await Promise.all(Array.from({ length: 100 }, () => sut.rateLimitOf('p1')));
      const attributions = await Promise.all(Array.from({ length: 100 }, () => sut.attributionOf('p1')));
      expect(new Set(limits)).toEqual(new Set([30]));
      expect(new Set(attributions).size).toBe(1);
      expect(repo.findRateLimit).toHaveBeenCalledTimes(1);
      expect(repo.findAttribution).toHaveBeenCalledTimes(1);
    });

    it('caches "no own limit" (null) too, as it does for an unknown partner (the default applies)', async () => {
      repo.findRateLimit.mockResolvedValueOnce(null);
      expect(await sut.rateLimitOf('p1')).toBeNull();
      expect(await sut.rateLimitOf('p1')).toBeNull();
      repo.findRateLimit.mockResolvedValueOnce(undefined);
      expect(await sut.rateLimitOf('nope')).toBeNull();
      expect(await sut.rateLimitOf('nope')).toBeNull();
      expect(repo.findRateLimit).toHaveBeenCalledTimes(2);
    });

    it('setting a limit returns the old one and drops the cached value at once', async () => {
      repo.findRateLimit.mockResolvedValueOnce(30);
      await sut.rateLimitOf('p1');
      repo.findRateLimit.mockResolvedValueOnce(30);
      repo.setRateLimit.mockResolvedValueOnce(true);
      expect(await sut.setRateLimit('p1', 5)).toBe(30);
      expect(repo.setRateLimit).toHaveBeenCalledWith('p1', 5);
      repo.findRateLimit.mockResolvedValueOnce(5);
      expect(await sut.rateLimitOf('p1')).toBe(5);
    });

    it('404 for an unknown partner, writing nothing', async () => {
      repo.findRateLimit.mockResolvedValueOnce(undefined);
      await expect(sut.setRateLimit('nope', 5)).rejects.toMatchObject({ code: 'partner_not_found' });
      expect(repo.setRateLimit).not.toHaveBeenCalled();
    });

    it('404 when the partner disappears between the read and the write', async () => {
      repo.findRateLimit.mockResolvedValueOnce(null);
      repo.setRateLimit.mockResolvedValueOnce(false);
      await expect(sut.setRateLimit('p1', 5)).rejects.toBeInstanceOf(AppError);
    });
  });

  describe('tags and their caches', () => {
    it('a new tag is seen at once by isPartnerTag and by the any-tag origin check', async () => {
      repo.tagIdsOfPartner.mockResolvedValueOnce(['t1']);
      expect(await sut.isPartnerTag('p1', 't2')).toBe(false);
      expect(await sut.isPartnerTag('p1', 't1')).toBe(true); // cached
      repo.allAllowedOrigins.mockResolvedValueOnce(new Set(['https://shop.example.com']));
      expect(await sut.isAllowedOriginOfAnyTag('https://new.example.com')).toBe(false);

      repo.findPartner.mockResolvedValueOnce(partner());
      repo.insertTag.mockResolvedValueOnce(undefined);
      const t = await sut.createTag('p1', 'second', ['https://New.Example.com/', 'https://new.example.com']);
      expect(t).toMatchObject({ partner_id: 'p1', name: 'second', allowed_origins: ['https://new.example.com'] });
      expect(repo.insertTag).toHaveBeenCalledWith(expect.objectContaining({ id: t.id, created_at: NOW }));

      repo.tagIdsOfPartner.mockResolvedValueOnce(['t1', t.id]);
      expect(await sut.isPartnerTag('p1', t.id)).toBe(true);
      repo.allAllowedOrigins.mockResolvedValueOnce(new Set(['https://shop.example.com', 'https://new.example.com']));
      expect(await sut.isAllowedOriginOfAnyTag('https://new.example.com')).toBe(true);
    });

    it('a tag for an unknown partner is a 404; a bad origin a 422 naming its index; neither writes', async () => {
      repo.findPartner.mockResolvedValueOnce(null);
      await expect(sut.createTag('nope', 'x')).rejects.toMatchObject({ code: 'partner_not_found' });
      repo.findPartner.mockResolvedValueOnce(partner());
      const bad = await sut.createTag('p1', 'x', ['https://ok.example.com', 'ftp://x.example.com']).catch((e) => e);
      expect(bad).toBeInstanceOf(AppError);
      expect(bad.code).toBe('validation');
      expect(JSON.stringify(bad)).toContain('"allowed_origins",1');
      expect(repo.insertTag).not.toHaveBeenCalled();
    });

    it('updating a tag’s origins drops its cached access and the any-tag origins at once', async () => {
      repo.findActiveTagAccess.mockResolvedValueOnce({
        partner_id: 'p1',
        allowed_origins: ['https://shop.example.com'],
      });
      expect(await sut.tagAccess('t1')).toEqual({ partnerId: 'p1', allowedOrigins: ['https://shop.example.com'] });
      expect(await sut.tagAccess('t1')).toEqual({ partnerId: 'p1', allowedOrigins: ['https://shop.example.com'] });
      repo.allAllowedOrigins.mockResolvedValueOnce(new Set(['https://shop.example.com']));
      expect(await sut.isAllowedOriginOfAnyTag('https://shop.example.com')).toBe(true);

      repo.findTag.mockResolvedValueOnce(tag());
      repo.updateTag.mockResolvedValueOnce(undefined);
      const { before, after } = await sut.updateTag('t1', { allowed_origins: ['https://moved.example.com'] });
      expect(before.allowed_origins).toEqual(['https://shop.example.com']);
      expect(after).toMatchObject({ name: 'main', allowed_origins: ['https://moved.example.com'] });

      repo.findActiveTagAccess.mockResolvedValueOnce({
        partner_id: 'p1',
        allowed_origins: ['https://moved.example.com'],
      });
      expect((await sut.tagAccess('t1'))?.allowedOrigins).toEqual(['https://moved.example.com']);
      repo.allAllowedOrigins.mockResolvedValueOnce(new Set(['https://moved.example.com']));
      expect(await sut.isAllowedOriginOfAnyTag('https://shop.example.com')).toBe(false);
    });

    it('caches a tag’s owner and access when found, never a miss (a tag may be created next)', async () => {
      repo.findTag.mockResolvedValueOnce(tag());
      expect(await sut.ownerOfTag('t1')).toBe('p1');
      expect(await sut.ownerOfTag('t1')).toBe('p1');
      repo.findTag.mockResolvedValueOnce(null).mockResolvedValueOnce(tag({ id: 't9' }));
      expect(await sut.ownerOfTag('t9')).toBeNull();
      expect(await sut.ownerOfTag('t9')).toBe('p1');
      repo.findActiveTagAccess
        .mockResolvedValueOnce(null)
        .mockResolvedValueOnce({ partner_id: 'p1', allowed_origins: [] });
      expect(await sut.tagAccess('t9')).toBeNull();
      expect(await sut.tagAccess('t9')).toEqual({ partnerId: 'p1', allowedOrigins: [] });
    });

    it('a tag’s owner is kept for a minute even when KEY_CACHE_TTL_MS is short (tags never change partner)', async () => {
      repo.findTag.mockResolvedValueOnce(tag());
      await sut.ownerOfTag('t1');
      jest.advanceTimersByTime(59_000);
      expect(await sut.ownerOfTag('t1')).toBe('p1');
      jest.advanceTimersByTime(1_000);
      repo.findTag.mockResolvedValueOnce(tag());
      expect(await sut.ownerOfTag('t1')).toBe('p1');
      expect(repo.findTag).toHaveBeenCalledTimes(2);
    });
  });

  describe('partner state', () => {
    it('disabling stamps the clock’s time once; disabling again writes nothing; enabling clears it', async () => {
      repo.findPartner.mockResolvedValueOnce(partner());
      repo.setPartnerDisabledAt.mockResolvedValueOnce(undefined);
      const first = await sut.setPartnerDisabled('p1', true);
      expect(first.after.disabled_at).toBe(NOW.toISOString());
      expect(repo.setPartnerDisabledAt).toHaveBeenCalledWith('p1', NOW);

      repo.findPartner.mockResolvedValueOnce(partner({ disabled_at: NOW }));
      const again = await sut.setPartnerDisabled('p1', true);
      expect(again.before.disabled_at).toBe(NOW.toISOString());
      expect(repo.setPartnerDisabledAt).toHaveBeenCalledTimes(1);

      repo.findPartner.mockResolvedValueOnce(partner({ disabled_at: NOW }));
      repo.setPartnerDisabledAt.mockResolvedValueOnce(undefined);
      expect((await sut.setPartnerDisabled('p1', false)).after.disabled_at).toBeNull();
      expect(repo.setPartnerDisabledAt).toHaveBeenLastCalledWith('p1', null);
    });

    it('renaming to the same name writes nothing; an unknown partner is a 404', async () => {
      repo.findPartner.mockResolvedValueOnce(partner());
      expect((await sut.renamePartner('p1', 'Acme')).after.name).toBe('Acme');
      repo.findPartner.mockResolvedValueOnce(null);
      await expect(sut.renamePartner('nope', 'X')).rejects.toMatchObject({ code: 'partner_not_found' });
    });
  });
});
