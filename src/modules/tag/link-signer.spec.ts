import { createHmac } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/app-config';
import { LINK_SECRET_FILE_NAME, LinkSigner } from './link-signer';

const SECRET = 'l'.repeat(32) + '-link-secret';
const CLICK_SECRET = 'c'.repeat(32) + '-click-secret';
const URL_A = 'https://shop.example.com/p/1?utm_source=thrad';

function signer(env: Record<string, string> = {}): LinkSigner {
  const dir = mkdtempSync(join(tmpdir(), 'link-signer-'));
  return new LinkSigner(loadConfig({ SQLITE_PATH: join(dir, 'db.sqlite'), ...env }));
}

describe('LinkSigner', () => {
  it('signs as the README says: base64url HMAC-SHA256 over "thrad-link-v1", tag, bid and url joined by newlines', () => {
    const s = signer({ LINK_SIGNING_SECRET: SECRET });
    const expected = createHmac('sha256', SECRET).update(`thrad-link-v1\ntag_1\nbid_1\n${URL_A}`).digest('base64url');
    expect(s.sign('tag_1', 'bid_1', URL_A)).toBe(expected);
    expect(s.verify('tag_1', 'bid_1', URL_A, expected)).toBe(true);
    const noBid = createHmac('sha256', SECRET).update(`thrad-link-v1\ntag_1\n\n${URL_A}`).digest('base64url');
    expect(s.verify('tag_1', null, URL_A, noBid)).toBe(true);
  });

  it("matches the README's worked example", () => {
    const s = signer({ LINK_SIGNING_SECRET: 'test-link-signing-secret-0123456789abcdef' });
    expect(
      s.sign('6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00', 'bid_42', 'https://shop.example.com/p/1?utm_source=thrad'),
    ).toBe('HK26yiDrK_NAxNKrzaMSsGG6Epa8_qW2hO9a5aSNXuM');
  });

  it('refuses any change to the tag, bid, url or signature, and malformed signatures', () => {
    const s = signer({ LINK_SIGNING_SECRET: SECRET });
    const sig = s.sign('tag_1', 'bid_1', URL_A);
    expect(s.verify('tag_2', 'bid_1', URL_A, sig)).toBe(false);
    expect(s.verify('tag_1', 'bid_2', URL_A, sig)).toBe(false);
    expect(s.verify('tag_1', null, URL_A, sig)).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A + '&x=1', sig)).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A, sig + 'A')).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A, sig.slice(0, -1))).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A, sig + '=')).toBe(false);
    // Standard base64 (padded, maybe with + and /) is another spelling: refused.
    expect(s.verify('tag_1', 'bid_1', URL_A, Buffer.from(sig, 'base64url').toString('base64'))).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A, undefined)).toBe(false);
    expect(s.verify('tag_1', 'bid_1', URL_A, 42)).toBe(false);
    expect(signer({ LINK_SIGNING_SECRET: SECRET + 'x' }).verify('tag_1', 'bid_1', URL_A, sig)).toBe(false);
  });

  it('rotates: the previous secret keeps verifying until it is removed; only the current one signs', () => {
    const old = signer({ LINK_SIGNING_SECRET: SECRET });
    const oldSig = old.sign('tag_1', 'bid_1', URL_A);
    const rotated = signer({ LINK_SIGNING_SECRET: CLICK_SECRET, LINK_SIGNING_PREVIOUS_SECRET: SECRET });
    expect(rotated.verify('tag_1', 'bid_1', URL_A, oldSig)).toBe(true);
    expect(rotated.sign('tag_1', 'bid_1', URL_A)).not.toBe(oldSig);
    expect(rotated.verify('tag_1', 'bid_1', URL_A, rotated.sign('tag_1', 'bid_1', URL_A))).toBe(true);
    expect(rotated.verify('tag_1', 'bid_2', URL_A, oldSig)).toBe(false);
    expect(signer({ LINK_SIGNING_SECRET: CLICK_SECRET }).verify('tag_1', 'bid_1', URL_A, oldSig)).toBe(false);
    expect(() => loadConfig({ LINK_SIGNING_PREVIOUS_SECRET: 'short' })).toThrow(
      new ConfigError('LINK_SIGNING_PREVIOUS_SECRET must be at least 32 characters'),
    );
  });

  it('never verifies a tag or bid id holding a newline (the fields cannot be shifted)', () => {
    const s = signer({ LINK_SIGNING_SECRET: SECRET });
    // "t\nb" + "" + url and "t" + "b" + url would be the same message without the rule.
    const shifted = s.sign('t', 'b', URL_A);
    expect(s.verify('t\nb', null, URL_A, shifted)).toBe(false);
    expect(s.verify('t', 'b\nc', URL_A, s.sign('t', 'b\nc', URL_A))).toBe(false);
  });

  it('accepts only the canonical base64url spelling', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const s = signer({ LINK_SIGNING_SECRET: SECRET });
    const sig = s.sign('tag_1', 'bid_1', URL_A);
    const last = alphabet.indexOf(sig[42]);
    for (const low of [1, 2, 3]) {
      const other = sig.slice(0, 42) + alphabet[last | low];
      expect(Buffer.from(other, 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
      expect(s.verify('tag_1', 'bid_1', URL_A, other)).toBe(false);
    }
  });

  it('on the embedded default, generates a secret once and keeps it beside the SQLite file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'link-signer-'));
    const config = loadConfig({ SQLITE_PATH: join(dir, 'data', 'db.sqlite') });
    const sig = new LinkSigner(config).sign('tag_1', 'bid_1', URL_A);
    const file = join(dir, 'data', LINK_SECRET_FILE_NAME);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
    expect(new LinkSigner(config).verify('tag_1', 'bid_1', URL_A, sig)).toBe(true);
  });
});

describe('link-signing configuration', () => {
  it('requires LINK_SIGNING_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', CLICK_SIGNING_SECRET: CLICK_SECRET })).toThrow(
      new ConfigError(
        'LINK_SIGNING_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -base64 48`)',
      ),
    );
    const c = loadConfig({ NODE_ENV: 'production', CLICK_SIGNING_SECRET: CLICK_SECRET, LINK_SIGNING_SECRET: SECRET });
    expect(c.linkSigningSecret).toBe(SECRET);
  });

  it('refuses a short secret and a bad click redirect limit, naming the variable', () => {
    expect(() => loadConfig({ LINK_SIGNING_SECRET: 'short' })).toThrow(
      new ConfigError('LINK_SIGNING_SECRET must be at least 32 characters'),
    );
    expect(() => loadConfig({ CLICK_RATE_LIMIT_PER_ADDRESS: '0' })).toThrow(
      /^CLICK_RATE_LIMIT_PER_ADDRESS must be between/,
    );
    expect(loadConfig({}).clickRateLimitPerAddress).toBe(120);
  });
});
