import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../../common/clock';
import { AppError } from '../../common/errors';
import { parseDateTime } from '../../common/parsers';
import { decodeCursor, encodeCursor, intOr } from '../../common/query';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { afterCommit, TransactionScope } from '../../database/transaction-scope';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { embeddedSecret } from '../clicks/embedded-secret';
import { PartnersService } from '../partners/partners.service';
import { generateSecret, SecretBox } from './webhook-signature';
import { WebhookOutbox } from '../webhook-outbox/webhook-outbox';
import { WebhookEndpoint, WebhookEvent } from './webhook.entities';
import {
  CreatedWebhookEndpointDto,
  CreateWebhookEndpointDto,
  ListDeliveriesQueryDto,
  ReplayResultDto,
  ReplayWebhookDto,
  RotatedWebhookSecretDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryDto,
  WebhookDeliveryPageDto,
  WebhookEndpointDto,
  WebhookEndpointListDto,
} from './webhooks.dto';
import { DeliveryRow, WebhooksRepository } from './webhooks.repository';

/** At most this many endpoints per partner. */
export const MAX_ENDPOINTS_PER_PARTNER = 20;

/** The key endpoint secrets are sealed with: WEBHOOK_SECRET_KEY, else derived from CLICK_SIGNING_SECRET, else embedded. */
export function secretBoxOf(config: AppConfig): SecretBox {
  const key =
    config.webhookSecretKey ??
    (config.clickSigningSecret ? `click-signing:${config.clickSigningSecret}` : undefined) ??
    embeddedSecret(config, 'webhook-secret-key', 'WEBHOOK_SECRET_KEY', new Logger('Webhooks'));
  return new SecretBox(key);
}

const eventsText = (events: readonly string[]) => `,${events.join(',')},`;
const eventsOf = (text: string) => text.split(',').filter((e) => e !== '');

export function toDeliveryDto(d: DeliveryRow): WebhookDeliveryDto {
  return {
    id: d.id,
    message_id: d.message_id,
    type: d.type,
    conversion_id: d.conversion_id,
    click_id: d.click_id,
    attempt: d.attempt,
    attempted_at: d.attempted_at.toISOString(),
    status_code: d.status_code,
    latency_ms: d.latency_ms,
    error: d.error,
    next_attempt_at: d.next_attempt_at ? d.next_attempt_at.toISOString() : null,
  };
}

/**
 * Partners' webhook endpoints (admin and self-service), their delivery log and replay. Admin
 * writes are audited in the write's transaction; a partner's own writes are not admin writes.
 */
@Injectable()
export class WebhooksService {
  readonly box: SecretBox;

  constructor(
    private readonly repo: WebhooksRepository,
    private readonly outbox: WebhookOutbox,
    private readonly partners: PartnersService,
    private readonly audit: AuditService,
    private readonly tx: TransactionScope,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.box = secretBoxOf(config);
  }

  view(e: WebhookEndpoint): WebhookEndpointDto {
    const now = this.clock.now();
    return {
      id: e.id,
      partner_id: e.partner_id,
      url: e.url,
      events: eventsOf(e.events),
      enabled: !!e.enabled,
      disabled_reason: e.disabled_reason,
      previous_secret_expires_at:
        e.previous_secret_until && e.previous_secret_until > now ? e.previous_secret_until.toISOString() : null,
      created_at: e.created_at.toISOString(),
      updated_at: e.updated_at.toISOString(),
    };
  }

  /** The endpoint, only when it is `partnerId`'s (another partner's is not found, never forbidden). */
  private async endpointOf(partnerId: string, id: string): Promise<WebhookEndpoint> {
    const e = id.length <= 36 ? await this.repo.endpoints.findOneBy({ id, partner_id: partnerId }) : null;
    if (!e) throw new AppError('webhook_not_found');
    return e;
  }

  private async assertPartner(partnerId: string): Promise<void> {
    if (partnerId.length > 36 || !(await this.partners.partnerExists(partnerId)))
      throw new AppError('partner_not_found');
  }

  /** Creates an endpoint; `actor` set for an admin (audited). The secret is in this answer only. */
  create(
    actor: Principal | null,
    partnerId: string,
    dto: CreateWebhookEndpointDto,
  ): Promise<CreatedWebhookEndpointDto> {
    return this.tx.run(async () => {
      await this.assertPartner(partnerId);
      const count = await this.repo.endpoints.countBy({ partner_id: partnerId });
      if (count >= MAX_ENDPOINTS_PER_PARTNER) throw new AppError('webhook_limit');
      const now = this.clock.now();
      const secret = generateSecret();
      const e: WebhookEndpoint = {
        id: randomUUID(),
        partner_id: partnerId,
        url: dto.url,
        events: eventsText(dto.events),
        enabled: dto.enabled ?? true,
        disabled_reason: null,
        secret_enc: this.box.seal(secret),
        previous_secret_enc: null,
        previous_secret_until: null,
        failing_since: null,
        created_at: now,
        updated_at: now,
      };
      await this.repo.endpoints.insert(e);
      const view = this.view(e);
      if (actor) await this.audit.record(actor, 'webhook.create', 'webhook_endpoint', e.id, null, view);
      if (e.enabled) afterCommit(() => this.outbox.markPartner(partnerId));
      return { ...view, secret };
    });
  }

  async list(partnerId: string): Promise<WebhookEndpointListDto> {
    await this.assertPartner(partnerId);
    const rows = await this.repo.endpoints.find({
      where: { partner_id: partnerId },
      order: { created_at: 'ASC', id: 'ASC' },
    });
    return { items: rows.map((e) => this.view(e)) };
  }

  get(partnerId: string, id: string): Promise<WebhookEndpointDto> {
    return this.endpointOf(partnerId, id).then((e) => this.view(e));
  }

  update(
    actor: Principal | null,
    partnerId: string,
    id: string,
    dto: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpointDto> {
    return this.tx.run(async () => {
      const e = await this.endpointOf(partnerId, id);
      const before = this.view(e);
      const patch: Partial<WebhookEndpoint> = { updated_at: this.clock.now() };
      if (dto.url != null) patch.url = dto.url;
      if (dto.events != null) patch.events = eventsText(dto.events as WebhookEvent[]);
      if (dto.enabled != null) {
        patch.enabled = dto.enabled;
        if (dto.enabled) {
          patch.disabled_reason = null;
          patch.failing_since = null;
        }
      }
      await this.repo.endpoints.update({ id: e.id }, patch);
      // Disabled: its messages are held (out of the claim's way); enabled again: they are due now.
      if (dto.enabled === false && e.enabled) await this.repo.holdPending(e.id);
      if (dto.enabled === true && !e.enabled) await this.repo.releaseHeld(e.id, patch.updated_at!);
      const after = this.view({ ...e, ...patch });
      if (actor) await this.audit.record(actor, 'webhook.update', 'webhook_endpoint', e.id, before, after);
      if (after.enabled) afterCommit(() => this.outbox.markPartner(partnerId));
      return after;
    });
  }

  remove(actor: Principal | null, partnerId: string, id: string): Promise<void> {
    return this.tx.run(async () => {
      const e = await this.endpointOf(partnerId, id);
      await this.repo.endpoints.delete({ id: e.id });
      await this.repo.cancelPending(e.id);
      if (actor) await this.audit.record(actor, 'webhook.delete', 'webhook_endpoint', e.id, this.view(e), null);
    });
  }

  /** A new secret; the old one keeps signing (both signatures sent) for WEBHOOK_SECRET_GRACE. */
  rotate(actor: Principal | null, partnerId: string, id: string): Promise<RotatedWebhookSecretDto> {
    return this.tx.run(async () => {
      const e = await this.endpointOf(partnerId, id);
      const now = this.clock.now();
      const secret = generateSecret();
      const until = new Date(now.getTime() + this.config.webhookSecretGraceMs);
      await this.repo.endpoints.update(
        { id: e.id },
        {
          secret_enc: this.box.seal(secret),
          previous_secret_enc: e.secret_enc,
          previous_secret_until: until,
          updated_at: now,
        },
      );
      if (actor)
        await this.audit.record(actor, 'webhook.rotate_secret', 'webhook_endpoint', e.id, null, {
          previous_secret_expires_at: until.toISOString(),
        });
      return { id: e.id, secret, previous_secret_expires_at: until.toISOString() };
    });
  }

  async deliveries(partnerId: string, id: string, q: ListDeliveriesQueryDto): Promise<WebhookDeliveryPageDto> {
    const e = await this.endpointOf(partnerId, id);
    const limit = intOr(q.limit, 50);
    const rows = await this.repo.deliveries(e.id, decodeCursor(q.cursor), limit + 1);
    const items = rows.slice(0, limit).map(toDeliveryDto);
    const last = rows.length > limit ? rows[limit - 1] : undefined;
    return { items, next_cursor: last ? encodeCursor({ at: last.attempted_at, id: last.id }) : null };
  }

  async replay(
    actor: Principal | null,
    partnerId: string,
    id: string,
    dto: ReplayWebhookDto,
  ): Promise<ReplayResultDto> {
    const hasId = dto.message_id != null;
    const hasSince = dto.since != null;
    if (hasId === hasSince) {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body'],
          msg: 'Value error, give exactly one of message_id and since',
          input: dto,
          ctx: { error: 'give exactly one of message_id and since' },
        },
      ]);
    }
    return this.tx.run(async () => {
      const e = await this.endpointOf(partnerId, id);
      const since = hasSince ? (parseDateTime(dto.since) as { ok: true; date: Date }).date : undefined;
      const replayed = await this.repo.replay(
        e.id,
        { messageId: dto.message_id ?? undefined, since },
        this.clock.now(),
        !e.enabled,
      );
      if (hasId && replayed === 0) throw new AppError('webhook_message_not_found');
      if (actor) await this.audit.record(actor, 'webhook.replay', 'webhook_endpoint', e.id, null, { ...dto, replayed });
      return { replayed };
    });
  }
}
