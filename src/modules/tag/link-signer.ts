import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { embeddedSecret } from '../clicks/embedded-secret';

/** The file, beside the SQLite database, that keeps the generated link secret of an embedded install. */
export const LINK_SECRET_FILE_NAME = 'link-signing.secret';

/** A 32-byte MAC in base64url without padding: its one canonical spelling. */
const MAC_CHARS = 43;
const LINK_SIG_RE = /^[A-Za-z0-9_-]{43}$/;

function mac(secret: Buffer, tagId: string, bidId: string | null, url: string): string {
  return createHmac('sha256', secret)
    .update(linkMessage(tagId, bidId, url), 'utf8')
    .digest('base64url');
}

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
  /** The previous secret after a rotation (links it signed keep working until it is removed). */
  private readonly previous: Buffer | null;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    const secret =
      config.linkSigningSecret ?? embeddedSecret(config, LINK_SECRET_FILE_NAME, 'LINK_SIGNING_SECRET', this.logger);
    this.secret = Buffer.from(secret, 'utf8');
    const previous = config.linkSigningPreviousSecret;
    this.previous = previous && previous !== secret ? Buffer.from(previous, 'utf8') : null;
  }

  /** The signature of a link (what the ad server computes; the service uses it in tests and docs). */
  sign(tagId: string, bidId: string | null, url: string): string {
    return mac(this.secret, tagId, bidId, url);
  }

  /**
   * Whether sig is the canonical signature of this tag, bid and url under the current secret or,
   * after a rotation, the previous one. Both comparisons always run (constant time, as text), so
   * the cost says nothing about which one came close.
   */
  verify(tagId: string, bidId: string | null, url: string, sig: unknown): boolean {
    const wellFormed = typeof sig === 'string' && LINK_SIG_RE.test(sig);
    const given = Buffer.alloc(MAC_CHARS);
    if (wellFormed) given.write(sig, 'latin1');
    const current = timingSafeEqual(Buffer.from(mac(this.secret, tagId, bidId, url)), given);
    const previous = timingSafeEqual(Buffer.from(mac(this.previous ?? this.secret, tagId, bidId, url)), given);
    const fieldsOk = !tagId.includes('\n') && !(bidId ?? '').includes('\n');
    return wellFormed && fieldsOk && (current || (previous && this.previous !== null));
  }
}
