import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { AppError } from '../../common/errors';
import { Clock } from '../../common/clock';
import { TtlCache } from '../../common/ttl-cache';
import { AuthFailureThrottle } from './auth-failure-throttle';
import { afterCommit } from '../../database/transaction-scope';
import type { DataMode } from '../../common/data-mode';
import { ApiKey, Role } from './api-key.entity';
import { ApiKeysRepository, KeyRecord } from './api-keys.repository';
import type { Principal } from './principal';

const PREFIX_BY_ROLE: Record<Role, string> = {
  partner: 'thr_pk_',
  ingest: 'thr_ik_',
  support: 'thr_sk_',
  admin: 'thr_ak_',
};

/** A test (sandbox) partner key's own visible prefix, so it is never mistaken for a live one. */
export const TEST_KEY_PREFIX = 'thr_test_';

export interface IssuedKey {
  id: string;
  role: Role;
  mode: DataMode;
  partner_id: string | null;
  name: string | null;
  key: string;
  created_at: string;
}

/** A key as operators see it: metadata only, never the secret or its hash. */
export interface KeyMetadata {
  id: string;
  role: Role;
  mode: DataMode;
  partner_id: string | null;
  name: string | null;
  prefix: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface RotatedKey extends IssuedKey {
  /** The key this one replaces, and when that one stops working. */
  replaces: { id: string; expires_at: string };
}

const isoOrNull = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function hashKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * How many characters of a generated key are shown: the role's prefix (7) and 5 of the 43 random
 * characters, 30 of its 256 random bits. Enough to tell keys apart (two keys share a prefix only
 * past tens of thousands of keys of a role), and the 226 bits left unshown keep the secret as
 * unguessable as before.
 */
const SHOWN_CHARS = 12;
/** A test key shows its longer prefix (9) and the same 5 random characters. */
const SHOWN_TEST_CHARS = TEST_KEY_PREFIX.length + 5;

/**
 * The prefix shown for a secret an operator supplied (BOOTSTRAP_ADMIN_KEY): the role's prefix and
 * 8 hex digits of a hash of the stored hash, in brackets that no generated key contains. It is
 * never a slice of the secret (which may be a password reused elsewhere) nor of its stored hash,
 * and it can be computed from the stored hash alone.
 */
export function suppliedKeyPrefix(role: Role, keyHash: string): string {
  return `${PREFIX_BY_ROLE[role]}[h:${createHash('sha256').update(keyHash, 'utf8').digest('hex').slice(0, 8)}]`;
}

/** Cached unknown tokens, apart from the known keys, so a flood of invalid tokens cannot evict valid keys. */
const KEY_CACHE_ENTRIES = 10_000;
const MISS_CACHE_ENTRIES = 10_000;

/** Keys: how they are made, stored and checked. Nothing else knows. */
@Injectable()
export class AuthService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Auth');
  /** hash -> key record, for at most KEY_CACHE_TTL_MS; least recently used out first. */
  private readonly cache: TtlCache<string, KeyRecord>;
  /** Hashes no key has, for as long, in a cache of their own (bounded apart from the known keys). */
  private readonly misses: TtlCache<string, true>;
  /** Failed authentications per client address: past AUTH_FAILURE_LIMIT_PER_MINUTE, 429. */
  private readonly failures: AuthFailureThrottle;
  /**
   * key id -> when it was last used, not yet written. last_used_at is kept without a write per
   * request: uses gather here and are written in one batch every LAST_USED_FLUSH_MS and at
   * shutdown (a crash loses at most one interval of last-use times, never a key).
   */
  private pendingUses = new Map<string, Date>();
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly keys: ApiKeysRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.cache = new TtlCache(config.keyCacheTtlMs, KEY_CACHE_ENTRIES);
    this.misses = new TtlCache(config.keyCacheTtlMs, MISS_CACHE_ENTRIES);
    this.failures = new AuthFailureThrottle(config.authFailureLimitPerMinute);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.bootstrapAdminKey();
    this.flushTimer = setInterval(() => void this.flushLastUsed(), this.config.lastUsedFlushMs);
    this.flushTimer.unref();
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    await this.flushLastUsed();
  }

  /** Writes the gathered last-use times. Safe to call at any time; calls never overlap. */
  flushLastUsed(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pendingUses.size === 0) return;
      const batch = this.pendingUses;
      this.pendingUses = new Map();
      try {
        await this.keys.recordLastUsed(batch);
      } catch (e) {
        // Put them back (unless newer uses arrived meanwhile) for the next flush.
        for (const [id, at] of batch) if (!this.pendingUses.has(id)) this.pendingUses.set(id, at);
        this.logger.warn(`Could not write last_used_at: ${(e as Error).message}`);
      }
    });
    return this.flushing;
  }

  /**
   * The principal for a bearer secret, or a 401. `address` is the client's (request.ip): past
   * AUTH_FAILURE_LIMIT_PER_MINUTE failures from it in a minute, a failure is a 429 with
   * Retry-After instead. Only failures are counted; a valid key from that address still works.
   */
  async authenticate(secret: string, address?: string): Promise<Principal> {
    const hash = hashKey(secret);
    let rec: KeyRecord | null | undefined = this.cache.get(hash);
    if (rec === undefined) {
      if (this.misses.get(hash)) rec = null;
      else {
        rec = await this.keys.findByHash(hash);
        if (rec) this.cache.set(hash, rec);
        else this.misses.set(hash, true);
      }
    }
    const now = this.clock.now().getTime();
    if (!rec || rec.revoked_at || (rec.expires_at && rec.expires_at.getTime() <= now) || rec.partner_disabled_at) {
      const wait = address === undefined ? 0 : this.failures.fail(address, now);
      if (wait > 0) throw new AppError('rate_limited', undefined, { 'Retry-After': String(wait) });
      throw new AppError('invalid_api_key');
    }
    this.pendingUses.set(rec.id, new Date(now));
    return { keyId: rec.id, role: rec.role, partnerId: rec.partner_id, mode: rec.mode };
  }

  async createApiKey(
    input: { role: Role; partner_id?: string | null; name?: string | null; mode?: DataMode },
    secret?: string,
  ): Promise<IssuedKey> {
    const mode: DataMode = input.mode ?? 'live';
    // Only partner keys may be test keys (AdminService answers the 422); anything else is a bug.
    if (mode === 'test' && (input.role !== 'partner' || secret !== undefined))
      throw new Error('only a generated partner key may be a test key');
    const prefix = mode === 'test' ? TEST_KEY_PREFIX : PREFIX_BY_ROLE[input.role];
    const key = secret ?? prefix + randomBytes(32).toString('base64url');
    const keyHash = hashKey(key);
    const row: ApiKey = {
      id: randomUUID(),
      role: input.role,
      partner_id: input.partner_id ?? null,
      name: input.name ?? null,
      prefix:
        secret === undefined
          ? key.slice(0, mode === 'test' ? SHOWN_TEST_CHARS : SHOWN_CHARS)
          : suppliedKeyPrefix(input.role, keyHash),
      key_hash: keyHash,
      created_at: this.clock.now(),
      expires_at: null,
      revoked_at: null,
      last_used_at: null,
      mode,
    };
    await this.keys.insert(row);
    this.misses.delete(keyHash);
    return {
      id: row.id,
      role: row.role,
      mode,
      partner_id: row.partner_id,
      name: row.name,
      key,
      created_at: row.created_at.toISOString(),
    };
  }

  /** Revokes a key. This process forgets it at once; other replicas within KEY_CACHE_TTL_MS. */
  async revokeApiKey(id: string): Promise<void> {
    const key = await this.keys.findById(id);
    if (!key) throw new AppError('api_key_not_found');
    if (!key.revoked_at) await this.keys.revoke(id, this.clock.now());
    afterCommit(() => this.cache.delete(key.key_hash));
  }

  /** Every key's metadata, or one partner's; last_used_at includes uses not yet written. */
  async listKeys(partnerId?: string): Promise<KeyMetadata[]> {
    return (await this.keys.listKeys(partnerId)).map((k) => this.toMetadata(k));
  }

  async getKey(id: string): Promise<KeyMetadata> {
    const k = await this.keys.findById(id);
    if (!k) throw new AppError('api_key_not_found');
    return this.toMetadata(k);
  }

  /**
   * Issues a new secret for a key's holder (same role, partner and name) and lets the old secret
   * work for `graceMs` more (never longer than it would have anyway). 409 for a key that no
   * longer works. Other replicas see the old key's new expiry within KEY_CACHE_TTL_MS.
   */
  async rotateApiKey(
    id: string,
    graceMs: number,
  ): Promise<{ before: KeyMetadata; after: KeyMetadata; issued: RotatedKey }> {
    const old = await this.keys.findById(id);
    if (!old) throw new AppError('api_key_not_found');
    const now = this.clock.now();
    if (old.revoked_at) throw new AppError('api_key_revoked');
    if (old.expires_at && old.expires_at.getTime() <= now.getTime()) throw new AppError('api_key_expired');
    const expiresAt = new Date(now.getTime() + graceMs);
    const newExpiry = old.expires_at && old.expires_at < expiresAt ? old.expires_at : expiresAt;
    const issued = await this.createApiKey({
      role: old.role,
      partner_id: old.partner_id,
      name: old.name,
      mode: old.mode,
    });
    await this.keys.setExpiry(id, newExpiry);
    afterCommit(() => this.cache.delete(old.key_hash));
    return {
      before: this.toMetadata(old),
      after: this.toMetadata({ ...old, expires_at: newExpiry }),
      issued: { ...issued, replaces: { id, expires_at: newExpiry.toISOString() } },
    };
  }

  private toMetadata(k: ApiKey): KeyMetadata {
    const pending = this.pendingUses.get(k.id);
    const lastUsed = pending && (!k.last_used_at || pending > k.last_used_at) ? pending : k.last_used_at;
    return {
      id: k.id,
      role: k.role,
      mode: k.mode ?? 'live',
      partner_id: k.partner_id,
      name: k.name,
      prefix: k.prefix,
      created_at: k.created_at.toISOString(),
      expires_at: isoOrNull(k.expires_at),
      last_used_at: isoOrNull(lastUsed),
      revoked_at: isoOrNull(k.revoked_at),
    };
  }

  /** Drops every cached key of a partner (after the partner is disabled, say). */
  forgetPartner(partnerId: string): void {
    this.cache.deleteWhere((rec) => rec.partner_id === partnerId);
  }

  private bootstrapAdminKey(): Promise<void> {
    return this.keys.underBootstrapLock(() => this.bootstrapAdminKeyLocked());
  }

  private async bootstrapAdminKeyLocked(): Promise<void> {
    const configured = this.config.bootstrapAdminKey;
    if (configured) {
      const hash = hashKey(configured);
      const existing = await this.keys.findByHash(hash);
      // Made before prefixes stopped showing supplied secrets: its prefix was the secret's first 12 characters.
      if (existing) await this.keys.setPrefix(existing.id, suppliedKeyPrefix(existing.role, hash));
      if (existing || (await this.keys.hasActiveAdmin())) return;
      try {
        await this.createApiKey({ role: 'admin', name: 'bootstrap (BOOTSTRAP_ADMIN_KEY)' }, configured);
        this.logger.log('Created the admin key given in BOOTSTRAP_ADMIN_KEY.');
      } catch (e) {
        // Another replica booting at the same moment created it first: that is the same outcome.
        if (!(await this.keys.findByHash(hashKey(configured)))) throw e;
      }
      return;
    }
    if (await this.keys.hasActiveAdmin()) return;
    const issued = await this.createApiKey({ role: 'admin', name: 'bootstrap (generated)' });
    this.logger.warn(
      'No admin key existed, so one was generated: it is printed once, on stderr, on a line of its own.',
    );
    // Plain text, not a log line: the key stays easy to copy, never inside an escaped JSON string.
    process.stderr.write(
      `\nThe generated admin key (shown only this once):\n\n${issued.key}\n\n` +
        `Use it as "Authorization: Bearer <key>" on /admin routes, e.g. to create a partner:\n` +
        `    curl -X POST http://localhost:${this.config.port}/admin/partners -H "Authorization: Bearer ${issued.key}" ` +
        `-H "Content-Type: application/json" -d '{"name":"Acme"}'\n` +
        `Set BOOTSTRAP_ADMIN_KEY to choose the secret yourself.\n\n`,
    );
  }
}

/** Compares two secrets in constant time (for the signed-click and similar checks). */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}
