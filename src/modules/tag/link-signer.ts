import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { embeddedSecret } from '../clicks/embedded-secret';

/** The file, beside the SQLite database, that keeps the generated link secret of an embedded install. */
export const LINK_SECRET_FILE_NAME = 'link-signing.secret';

/** A 32-byte MAC in base64url without padding: its one canonical spelling. */
const LINK_SIG_RE = /^[A-Za-z0-9_-]{43}$/;

/**
 * The message a link signature covers: a version label, the tag id, the bid id ('' without one),
 * and the landing URL, joined by newlines, exactly as they arrive in the query (after URL-decoding).
 * A tag or bid id holding a newline could shift the fields, so it never verifies.
 */
export function linkMessage(tagId: string, bidId: string | null, url: string): string {
  return `thrad-link-v1\n${tagId}\n${bidId ?? ''}\n${url}`;
}

/**
 * Checks the ad server's signature on a click redirect link (GET /c):
 * `sig = base64url(HMAC-SHA256(LINK_SIGNING_SECRET, linkMessage(tag_id, bid_id, url)))`.
 * A bid id is attributable money, so only the ad-serving system, which holds the secret, can put
 * one on a link. Compared in constant time, as text, so only the canonical spelling passes.
 */
@Injectable()
export class LinkSigner {
  private readonly logger = new Logger('LinkSigner');
  private readonly secret: Buffer;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const secret =
      config.linkSigningSecret ?? embeddedSecret(config, LINK_SECRET_FILE_NAME, 'LINK_SIGNING_SECRET', this.logger);
    this.secret = Buffer.from(secret, 'utf8');
  }

  /** The signature of a link (what the ad server computes; the service uses it in tests and docs). */
  sign(tagId: string, bidId: string | null, url: string): string {
    return createHmac('sha256', this.secret)
      .update(linkMessage(tagId, bidId, url), 'utf8')
      .digest('base64url');
  }

  /** Whether sig is the canonical signature of this tag, bid and url (same cost whatever sig holds). */
  verify(tagId: string, bidId: string | null, url: string, sig: unknown): boolean {
    const expected = Buffer.from(this.sign(tagId, bidId, url));
    const given = Buffer.alloc(expected.length);
    const wellFormed = typeof sig === 'string' && LINK_SIG_RE.test(sig);
    if (wellFormed) given.write(sig, 'latin1');
    const same = timingSafeEqual(expected, given);
    return same && wellFormed && !tagId.includes('\n') && !(bidId ?? '').includes('\n');
  }
}
