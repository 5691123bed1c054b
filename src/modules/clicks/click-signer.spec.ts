import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/app-config';
import { ClickSigner, keyIdOf, SECRET_FILE_NAME } from './click-signer';

const SECRET_A = 'a'.repeat(32) + '-first-secret';
const SECRET_B = 'b'.repeat(32) + '-second-secret';
const NOW = Date.parse('2026-05-26T12:00:00Z');
const EXP = NOW / 1000 + 3600;

function signer(env: Record<string, string> = {}): ClickSigner {
  const dir = mkdtempSync(join(tmpdir(), 'signer-'));
  return new ClickSigner(loadConfig({ SQLITE_PATH: join(dir, 'db.sqlite'), ...env }));
}

describe('ClickSigner', () => {
  it('signs as <key id>.<base64url HMAC-SHA256> and verifies its own signature', () => {
    const s = signer({ CLICK_SIGNING_SECRET: SECRET_A });
    const sig = s.sign('clk_1', EXP);
    expect(sig).toMatch(new RegExp(`^${keyIdOf(SECRET_A)}\\.[A-Za-z0-9_-]{43}$`));
    expect(s.verify('clk_1', sig, EXP, NOW)).toBe('valid');
    expect(s.verify('clk_1', sig, String(EXP), NOW)).toBe('valid');
  });

  it('refuses any change to the click id, exp or signature', () => {
    const s = signer({ CLICK_SIGNING_SECRET: SECRET_A });
    const sig = s.sign('clk_1', EXP);
    expect(s.verify('clk_2', sig, EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig, EXP + 1, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig.slice(0, -1) + (sig.endsWith('A') ? 'B' : 'A'), EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig + 'A', EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig.split('.')[1], EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig, `${EXP}.0`, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig, -EXP, NOW)).toBe('invalid');
    expect(s.verify(undefined, sig, EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', null, EXP, NOW)).toBe('invalid');
    expect(s.verify('clk_1', sig, null, NOW)).toBe('invalid');
    // The newline-joined message cannot be shifted across fields.
    const tricky = s.sign('clk_1\n9', 1);
    expect(s.verify('clk_1', tricky, 91, NOW)).toBe('invalid');
  });

  it('tells an expired signature from a bad one (the bad one first)', () => {
    const s = signer({ CLICK_SIGNING_SECRET: SECRET_A });
    const sig = s.sign('clk_1', EXP);
    expect(s.verify('clk_1', sig, EXP, EXP * 1000 - 1)).toBe('valid');
    expect(s.verify('clk_1', sig, EXP, EXP * 1000)).toBe('expired');
    expect(s.verify('clk_1', sig, EXP + 10, EXP * 1000 + 20_000)).toBe('invalid');
  });

  it('rotates: the previous secret keeps verifying, under its own key id, until it is removed', () => {
    const old = signer({ CLICK_SIGNING_SECRET: SECRET_A });
    const oldSig = old.sign('clk_1', EXP);
    const rotated = signer({ CLICK_SIGNING_SECRET: SECRET_B, CLICK_SIGNING_PREVIOUS_SECRET: SECRET_A });
    expect(rotated.currentKeyId).toBe(keyIdOf(SECRET_B));
    expect(rotated.currentKeyId).not.toBe(keyIdOf(SECRET_A));
    expect(rotated.verify('clk_1', oldSig, EXP, NOW)).toBe('valid');
    expect(rotated.sign('clk_1', EXP)).toMatch(new RegExp(`^${keyIdOf(SECRET_B)}\\.`));
    const done = signer({ CLICK_SIGNING_SECRET: SECRET_B });
    expect(done.verify('clk_1', oldSig, EXP, NOW)).toBe('invalid');
    // A signature made with another secret under the current key id is still refused.
    const forged = `${keyIdOf(SECRET_B)}.${oldSig.split('.')[1]}`;
    expect(rotated.verify('clk_1', forged, EXP, NOW)).toBe('invalid');
  });

  it('on the embedded default, generates a secret once and keeps it beside the SQLite file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'signer-'));
    const config = loadConfig({ SQLITE_PATH: join(dir, 'data', 'db.sqlite') });
    const first = new ClickSigner(config);
    const file = join(dir, 'data', SECRET_FILE_NAME);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
    const sig = first.sign('clk_1', EXP);
    const second = new ClickSigner(config);
    expect(second.verify('clk_1', sig, EXP, NOW)).toBe('valid');
    expect(second.currentKeyId).toBe(first.currentKeyId);
  });
});

describe('click-signing configuration', () => {
  it('requires CLICK_SIGNING_SECRET in production', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      new ConfigError(
        'CLICK_SIGNING_SECRET is required when NODE_ENV=production (at least 32 characters, e.g. `openssl rand -base64 48`)',
      ),
    );
    expect(
      loadConfig({ NODE_ENV: 'production', CLICK_SIGNING_SECRET: SECRET_A, LINK_SIGNING_SECRET: SECRET_B })
        .clickSigningSecret,
    ).toBe(SECRET_A);
  });

  it('refuses short secrets and bad durations, naming the variable', () => {
    expect(() => loadConfig({ CLICK_SIGNING_SECRET: 'short' })).toThrow(
      new ConfigError('CLICK_SIGNING_SECRET must be at least 32 characters'),
    );
    expect(() => loadConfig({ CLICK_SIGNING_PREVIOUS_SECRET: 'short' })).toThrow(
      new ConfigError('CLICK_SIGNING_PREVIOUS_SECRET must be at least 32 characters'),
    );
    expect(() => loadConfig({ CLICK_TTL: 'soon' })).toThrow(/^CLICK_TTL must be a duration/);
    expect(() => loadConfig({ TAG_RATE_LIMIT_PER_CLICK: '0' })).toThrow(/^TAG_RATE_LIMIT_PER_CLICK must be between/);
  });

  it('defaults the click TTL to 30 days', () => {
    expect(loadConfig({}).clickTtlMs).toBe(30 * 86_400_000);
    expect(loadConfig({ CLICK_TTL: '7d' }).clickTtlMs).toBe(7 * 86_400_000);
  });
});

describe('ClickSigner: canonical signatures', () => {
  it('accepts only the canonical base64url spelling of a MAC (the unused low bits of the last character are zero)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const s = signer({ CLICK_SIGNING_SECRET: SECRET_A });
    const sig = s.sign('clk_1', EXP);
    const last = alphabet.indexOf(sig[sig.length - 1]);
    // 43 characters carry 258 bits for a 256-bit MAC: the last character's two low bits are unused.
    expect(last & 3).toBe(0);
    const others = [1, 2, 3].map((low) => sig.slice(0, -1) + alphabet[last | low]);
    for (const other of others) {
      expect(Buffer.from(other.split('.')[1], 'base64url')).toEqual(Buffer.from(sig.split('.')[1], 'base64url'));
      expect(s.verify('clk_1', other, EXP, NOW)).toBe('invalid');
    }
    expect(s.verify('clk_1', sig, EXP, NOW)).toBe('valid');
  });
});
