import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { embeddedSecret } from './embedded-secret';

/** The file, beside the SQLite database, that keeps the generated secret of an embedded install. */
export const SECRET_FILE_NAME = 'click-signing.secret';

export type SignatureCheck = 'valid' | 'invalid' | 'expired';

interface SigningKey {
  id: string;
  secret: Buffer;
}

/** A 32-byte MAC in base64url without padding. */
const MAC_CHARS = 43;
const SIG_RE = /^([A-Za-z0-9_-]{1,16})\.([A-Za-z0-9_-]{43})$/;
const EXP_RE = /^\d{1,11}$/;

/** A key id is derived from its secret, so rotating the secret rotates the id with no extra setting. */
export function keyIdOf(secret: string): string {
  return 'k' + createHash('sha256').update(`thrad-click-key-id:${secret}`).digest('base64url').slice(0, 7);
}

/**
 * Signs clicks for the browser path: `sig = <key id>.<base64url HMAC-SHA256(secret, key id, click id, exp)>`.
 * The current secret signs; the previous one (after a rotation) still verifies, until the operator
 * removes it (at the latest CLICK_TTL after the rotation, when every click it signed has expired).
 * Verification touches no database and runs in constant time for a given click id length.
 */
@Injectable()
export class ClickSigner {
  private readonly logger = new Logger('ClickSigner');
  private readonly current: SigningKey;
  private readonly keys = new Map<string, SigningKey>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const secret =
      config.clickSigningSecret ?? embeddedSecret(config, SECRET_FILE_NAME, 'CLICK_SIGNING_SECRET', this.logger);
    this.current = { id: keyIdOf(secret), secret: Buffer.from(secret, 'utf8') };
    this.keys.set(this.current.id, this.current);
    const previous = config.clickSigningPreviousSecret;
    if (previous && previous !== secret) {
      const key = { id: keyIdOf(previous), secret: Buffer.from(previous, 'utf8') };
      this.keys.set(key.id, key);
    }
  }

  get currentKeyId(): string {
    return this.current.id;
  }

  /** The signature of a click id and its expiry (Unix seconds). */
  sign(clickId: string, exp: number): string {
    return `${this.current.id}.${this.mac(this.current, clickId, String(exp)).toString('base64url')}`;
  }

  /**
   * Whether sig is ours for this click id and exp, and, if so, whether exp has passed.
   * An unknown key id or a malformed value costs the same HMAC as a real check, so the answer's
   * timing says nothing about how close a forgery came.
   */
  verify(clickId: unknown, sig: unknown, exp: unknown, nowMs: number): SignatureCheck {
    const expText =
      typeof exp === 'number' && Number.isSafeInteger(exp) ? String(exp) : typeof exp === 'string' ? exp : '';
    const m = typeof sig === 'string' ? SIG_RE.exec(sig) : null;
    const wellFormed =
      typeof clickId === 'string' && clickId.length > 0 && clickId.length <= 255 && EXP_RE.test(expText) && m !== null;
    const key = (m && this.keys.get(m[1])) || this.current;
    const expected = Buffer.from(
      this.mac(key, typeof clickId === 'string' ? clickId : '', expText).toString('base64url'),
    );
    // The text is compared, not the decoded bytes: a MAC has exactly one base64url spelling (the
    // unused low bits of the last character are zero), and only that one passes.
    const given = Buffer.alloc(MAC_CHARS);
    if (m) given.write(m[2], 'latin1');
    const same = timingSafeEqual(expected, given);
    if (!(same && wellFormed && m !== null && this.keys.has(m[1]))) return 'invalid';
    return Number(expText) * 1000 <= nowMs ? 'expired' : 'valid';
  }

  private mac(key: SigningKey, clickId: string, exp: string): Buffer {
    // Key id, click id and exp joined by newlines: the key id and exp cannot hold one, so the
    // message is unambiguous whatever the click id contains.
    return createHmac('sha256', key.secret).update(`${key.id}\n${clickId}\n${exp}`, 'utf8').digest();
  }
}
