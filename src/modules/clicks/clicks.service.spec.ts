import { strictMock, StrictMock } from '../../../test/strict-mock';
import { Clock } from '../../common/clock';
import { loadConfig } from '../../config/app-config';
import { PartnersService } from '../partners/partners.service';
import { Click } from './click.entity';
import { RegisterClickDto } from './click.dto';
import { ClickSigner } from './click-signer';
import { ClicksRepository } from './clicks.repository';
import { ClicksService } from './clicks.service';

const NOW = new Date('2026-05-26T12:00:00.000Z');
const CLICKED = '2026-05-26T11:00:00.000Z';

describe('ClicksService.registerClick (strict mocks)', () => {
  let repo: StrictMock<ClicksRepository>;
  let partners: StrictMock<PartnersService>;
  let signer: StrictMock<ClickSigner>;
  let sut: ClicksService;

  beforeEach(() => {
    repo = strictMock(ClicksRepository);
    partners = strictMock(PartnersService);
    signer = strictMock(ClickSigner);
    const clock = strictMock(Clock);
    clock.now.mockReturnValue(NOW);
    signer.sign.mockReturnValue('sig');
    sut = new ClicksService(repo, partners, clock, signer, loadConfig({ CLICK_TTL: '30d' }));
  });

  const stored = (over: Partial<Click> = {}): Click => ({
    click_id: 'clk_1',
    tag_id: 't1',
    partner_id: 'p1',
    bid_id: 'bid_1',
    clicked_at: new Date(CLICKED),
    landing_url: 'https://shop.example.com/l',
    created_at: NOW,
    ...over,
  });
  const full: RegisterClickDto = {
    click_id: 'clk_1',
    tag_id: 't1',
    bid_id: 'bid_1',
    clicked_at: CLICKED,
    landing_url: 'https://shop.example.com/l',
  };

  /** registerClick when the store already holds `existing` under the posted click_id. */
  function whenStored(existing: Click, dto: RegisterClickDto) {
    partners.tagAccess.mockResolvedValueOnce({ partnerId: 'p1', allowedOrigins: [] });
    repo.insertIfAbsent.mockResolvedValueOnce(existing);
    return sut.registerClick(dto);
  }

  it('a new click: the tag’s owner becomes its partner; it is answered signed, with its expiry', async () => {
    partners.tagAccess.mockResolvedValueOnce({ partnerId: 'p1', allowedOrigins: [] });
    repo.insertIfAbsent.mockImplementationOnce(async (c) => c);
    const r = await sut.registerClick({ tag_id: 't1', bid_id: 'bid_1' });
    expect(r).toMatchObject({
      tag_id: 't1',
      partner_id: 'p1',
      bid_id: 'bid_1',
      clicked_at: NOW.toISOString(),
      sig: 'sig',
    });
    expect(r.click_id).toMatch(/^clk_[A-Za-z0-9_-]{22}$/);
    expect(r.exp).toBe(Math.floor((NOW.getTime() + 30 * 86_400_000) / 1000));
    expect(signer.sign).toHaveBeenCalledWith(r.click_id, r.exp);
  });

  it('an unknown tag is a 422 on tag_id, and nothing is written', async () => {
    partners.tagAccess.mockResolvedValueOnce(null);
    await expect(sut.registerClick({ tag_id: 'nope' })).rejects.toMatchObject({
      code: 'validation',
    });
    expect(repo.insertIfAbsent).not.toHaveBeenCalled();
  });

  it('re-posting the same click is not an error: the stored click is answered', async () => {
    const existing = stored({ created_at: new Date('2026-05-01T00:00:00Z') });
    const r = await whenStored(existing, full);
    expect(r.created_at).toBe('2026-05-01T00:00:00.000Z');
  });

  it('fields the re-post leaves out are not compared (bid, time, landing URL)', async () => {
    await expect(whenStored(stored(), { click_id: 'clk_1', tag_id: 't1' })).resolves.toMatchObject({
      bid_id: 'bid_1',
      clicked_at: CLICKED,
    });
  });

  it.each([
    ['another tag', stored({ tag_id: 't2' })],
    ['another bid', stored({ bid_id: 'bid_2' })],
    ['no bid where the re-post has one', stored({ bid_id: null })],
    ['another click time', stored({ clicked_at: new Date('2026-05-26T11:00:00.001Z') })],
    ['another landing URL', stored({ landing_url: 'https://shop.example.com/other' })],
    ['no landing URL where the re-post has one', stored({ landing_url: null })],
  ])('a stored click with %s is a 409: the click_id is taken by a different click', async (_, existing) => {
    await expect(whenStored(existing, full)).rejects.toMatchObject({
      code: 'click_conflict',
      message: 'A different click with this click_id is already registered',
    });
  });

  it('another tag conflicts even when the re-post says nothing else', async () => {
    await expect(whenStored(stored({ tag_id: 't2' }), { click_id: 'clk_1', tag_id: 't1' })).rejects.toMatchObject({
      code: 'click_conflict',
    });
  });
});
