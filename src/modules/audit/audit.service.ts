import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock';
import { decodeCursor, encodeCursor, intOr } from '../../common/query';
import type { Principal } from '../auth/principal';
import { AuditEntry } from './audit-entry.entity';
import { AuditEntryDto, AuditPageDto, ListAuditQueryDto } from './audit.dto';
import { AuditRepository } from './audit.repository';

export type AuditTarget = 'partner' | 'tag' | 'api_key' | 'webhook_endpoint';

/** Keys whose values never enter the log, wherever they appear. */
const SECRET_FIELDS = new Set(['key', 'key_hash', 'secret']);

let lastMs = 0;
let seq = 0;

/**
 * A UUIDv7-shaped id whose order follows the order entries were made in this process, so that
 * entries of the same millisecond still page newest first (ties on `at` are broken by id).
 */
export function sequentialId(ms: number): string {
  if (ms <= lastMs) {
    seq++;
    if (seq > 0xfff) {
      lastMs++;
      seq = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    seq = 0;
  }
  const t = ms.toString(16).padStart(12, '0');
  const r = randomBytes(8).toString('hex');
  const variant = ((parseInt(r[0], 16) & 0x3) | 0x8).toString(16);
  return `${t.slice(0, 8)}-${t.slice(8, 12)}-7${seq.toString(16).padStart(3, '0')}-${variant}${r.slice(1, 4)}-${r.slice(4, 16)}`;
}

function scrub(v: unknown): object | null {
  if (v === null || v === undefined) return null;
  return JSON.parse(JSON.stringify(v, (k, val: unknown) => (SECRET_FIELDS.has(k) ? undefined : val))) as object;
}

/** The audit log of admin writes. It owns its table; admin calls it after each write. */
@Injectable()
export class AuditService {
  constructor(
    private readonly repo: AuditRepository,
    private readonly clock: Clock,
  ) {}

  async record(
    actor: Principal,
    action: string,
    targetType: AuditTarget,
    targetId: string,
    before: unknown,
    after: unknown,
  ): Promise<void> {
    const at = this.clock.now();
    await this.repo.insert({
      id: sequentialId(at.getTime()),
      at,
      actor_key_id: actor.keyId,
      actor_role: actor.role,
      action,
      target_type: targetType,
      target_id: targetId,
      before: scrub(before),
      after: scrub(after),
    });
  }

  async listAudit(q: ListAuditQueryDto): Promise<AuditPageDto> {
    const limit = intOr(q.limit, 50);
    const rows = await this.repo.page(
      {
        action: q.action ?? undefined,
        target_type: q.target_type ?? undefined,
        target_id: q.target_id ?? undefined,
        actor_key_id: q.actor_key_id ?? undefined,
      },
      decodeCursor(q.cursor),
      limit + 1,
    );
    const items = rows.slice(0, limit).map(toAuditDto);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { items, next_cursor: last ? encodeCursor({ at: last.at, id: last.id }) : null };
  }
}

function toAuditDto(e: AuditEntry): AuditEntryDto {
  return {
    id: e.id,
    at: e.at.toISOString(),
    actor: { key_id: e.actor_key_id, role: e.actor_role },
    action: e.action,
    target_type: e.target_type,
    target_id: e.target_id,
    before: e.before,
    after: e.after,
  };
}
