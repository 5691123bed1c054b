import { Inject, Injectable } from '@nestjs/common';
import { Readable } from 'node:stream';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { AppError } from '../../common/errors';
import { validateOptionalBody } from '../../common/query';
import { TransactionScope } from '../../database/transaction-scope';
import { AuditService } from '../audit/audit.service';
import { AuthService, IssuedKey, KeyMetadata, RotatedKey } from '../auth/auth.service';
import type { Principal } from '../auth/principal';
import {
  ConversionFiltersDto,
  ConversionDetailDto,
  ConversionPageDto,
  ClickWithConversionsDto,
  ListConversionsQueryDto,
} from '../conversions/conversion-query.dto';
import { ConversionReadsService } from '../conversions/conversion-reads.service';
import { windowMsOf } from '../conversions/attribution-time';
import type { PartnerAttribution } from '../partners/partner.entity';
import { PartnersService, PartnerStateView, PartnerView, TagView } from '../partners/partners.service';
import {
  AttributionSettingsDto,
  CreateApiKeyDto,
  CreatePartnerDto,
  CreateTagDto,
  DEFAULT_GRACE_SECONDS,
  KeyListDto,
  ListKeysQueryDto,
  PartnerAttributionDto,
  PartnerDetailDto,
  PartnerListDto,
  RenamePartnerDto,
  RotateApiKeyDto,
  SetAttributionDto,
  UpdateTagDto,
} from './admin.dto';

/**
 * Composes what the other modules export; owns no tables. Every write is audited, in the write's
 * own transaction: when the audit entry cannot be written, the write is rolled back.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly partners: PartnersService,
    private readonly auth: AuthService,
    private readonly conversions: ConversionReadsService,
    private readonly audit: AuditService,
    private readonly tx: TransactionScope,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  // ---- writes (admin keys) ----

  createPartner(actor: Principal, dto: CreatePartnerDto): Promise<PartnerView> {
    return this.tx.run(async () => {
      const p = await this.partners.createPartner(dto.name);
      await this.audit.record(actor, 'partner.create', 'partner', p.id, null, p);
      return p;
    });
  }

  createTag(actor: Principal, partnerId: string, dto: CreateTagDto): Promise<TagView> {
    return this.tx.run(async () => {
      const t = await this.partners.createTag(partnerId, dto.name, dto.allowed_origins ?? []);
      await this.audit.record(actor, 'tag.create', 'tag', t.id, null, t);
      return t;
    });
  }

  async createApiKey(actor: Principal, dto: CreateApiKeyDto): Promise<IssuedKey> {
    const partnerId = dto.partner_id ?? null;
    if (dto.role === 'partner' && partnerId === null) {
      throw AppError.validation([
        { type: 'missing', loc: ['body', 'partner_id'], msg: 'Field required for role partner', input: dto },
      ]);
    }
    if (dto.role !== 'partner' && partnerId !== null) {
      throw AppError.validation([
        {
          type: 'extra_forbidden',
          loc: ['body', 'partner_id'],
          msg: 'Only partner keys belong to a partner',
          input: partnerId,
        },
      ]);
    }
    const mode = dto.mode ?? 'live';
    if (mode === 'test' && dto.role !== 'partner') {
      throw AppError.validation([
        {
          type: 'value_error',
          loc: ['body', 'mode'],
          msg: 'Value error, only partner keys may be test keys',
          input: mode,
          ctx: { error: 'only partner keys may be test keys' },
        },
      ]);
    }
    return this.tx.run(async () => {
      if (partnerId !== null && !(await this.partners.partnerExists(partnerId)))
        throw new AppError('partner_not_found');
      const issued = await this.auth.createApiKey({
        role: dto.role,
        partner_id: partnerId,
        name: dto.name ?? null,
        mode,
      });
      await this.audit.record(actor, 'key.create', 'api_key', issued.id, null, await this.auth.getKey(issued.id));
      return issued;
    });
  }

  async setPartnerRateLimit(
    actor: Principal,
    partnerId: string,
    perMinute: number | null,
  ): Promise<{ partner_id: string; rate_limit_per_minute: number | null; effective_per_minute: number }> {
    await this.tx.run(async () => {
      const before = await this.partners.setRateLimit(partnerId, perMinute);
      if (before !== perMinute) {
        await this.audit.record(
          actor,
          'partner.rate_limit',
          'partner',
          partnerId,
          { rate_limit_per_minute: before },
          { rate_limit_per_minute: perMinute },
        );
      }
    });
    return {
      partner_id: partnerId,
      rate_limit_per_minute: perMinute,
      effective_per_minute: perMinute ?? this.config.rateLimitPerMinute,
    };
  }

  /** Sets a partner's attribution window and policy, in one transaction with its audit entry. */
  async setPartnerAttribution(
    actor: Principal,
    partnerId: string,
    dto: SetAttributionDto,
  ): Promise<PartnerAttributionDto> {
    const next = { attribution_window_days: dto.window_days, attribution_policy: dto.policy };
    await this.tx.run(async () => {
      const before = await this.partners.setAttribution(partnerId, next);
      if (
        before.attribution_window_days !== next.attribution_window_days ||
        before.attribution_policy !== next.attribution_policy
      ) {
        await this.audit.record(actor, 'partner.attribution', 'partner', partnerId, before, next);
      }
    });
    return { partner_id: partnerId, ...this.attributionView(next) };
  }

  private attributionView(a: PartnerAttribution): AttributionSettingsDto {
    return {
      window_days: a.attribution_window_days,
      effective_window_days: windowMsOf(a.attribution_window_days, this.config.attributionWindowMs) / 86_400_000,
      policy: a.attribution_policy,
    };
  }

  revokeApiKey(actor: Principal, id: string): Promise<void> {
    return this.tx.run(async () => {
      const before = await this.auth.getKey(id);
      await this.auth.revokeApiKey(id);
      if (!before.revoked_at)
        await this.audit.record(actor, 'key.revoke', 'api_key', id, before, await this.auth.getKey(id));
    });
  }

  renamePartner(actor: Principal, id: string, dto: RenamePartnerDto): Promise<PartnerStateView> {
    return this.tx.run(async () => {
      const { before, after } = await this.partners.renamePartner(id, dto.name);
      await this.audit.record(actor, 'partner.rename', 'partner', id, before, after);
      return after;
    });
  }

  /** Disables a partner: its keys stop working at once on this replica, within KEY_CACHE_TTL_MS on others. */
  async disablePartner(actor: Principal, id: string): Promise<PartnerStateView> {
    const after = await this.tx.run(async () => {
      const change = await this.partners.setPartnerDisabled(id, true);
      if (!change.before.disabled_at)
        await this.audit.record(actor, 'partner.disable', 'partner', id, change.before, change.after);
      return change.after;
    });
    // After the commit: a key looked up meanwhile would otherwise be cached as still working.
    this.auth.forgetPartner(id);
    return after;
  }

  async enablePartner(actor: Principal, id: string): Promise<PartnerStateView> {
    const after = await this.tx.run(async () => {
      const change = await this.partners.setPartnerDisabled(id, false);
      if (change.before.disabled_at)
        await this.audit.record(actor, 'partner.enable', 'partner', id, change.before, change.after);
      return change.after;
    });
    this.auth.forgetPartner(id);
    return after;
  }

  updateTag(actor: Principal, id: string, dto: UpdateTagDto): Promise<TagView> {
    return this.tx.run(async () => {
      const { before, after } = await this.partners.updateTag(id, {
        name: dto.name ?? undefined,
        allowed_origins: dto.allowed_origins ?? undefined,
      });
      await this.audit.record(actor, 'tag.update', 'tag', id, before, after);
      return after;
    });
  }

  async rotateApiKey(actor: Principal, id: string, body: unknown): Promise<RotatedKey> {
    const dto = await validateOptionalBody(RotateApiKeyDto, body);
    const grace = dto.grace_seconds ?? DEFAULT_GRACE_SECONDS;
    return this.tx.run(async () => {
      const { before, after, issued } = await this.auth.rotateApiKey(id, grace * 1000);
      await this.audit.record(actor, 'key.rotate', 'api_key', id, before, {
        ...after,
        replaced_by: issued.id,
        grace_seconds: grace,
      });
      await this.audit.record(actor, 'key.create', 'api_key', issued.id, null, {
        ...(await this.auth.getKey(issued.id)),
        replaces: id,
      });
      return issued;
    });
  }

  // ---- reads (support and admin keys) ----

  listConversions(q: ListConversionsQueryDto): Promise<ConversionPageDto> {
    return this.conversions.listConversions(q);
  }

  getConversion(id: string): Promise<ConversionDetailDto> {
    return this.conversions.getConversion(id);
  }

  getClick(clickId: string): Promise<ClickWithConversionsDto> {
    return this.conversions.getClickWithConversions(clickId);
  }

  exportConversionsCsv(q: ConversionFiltersDto): Readable {
    return this.conversions.exportConversionsCsv(q);
  }

  async listPartners(): Promise<PartnerListDto> {
    return { items: await this.partners.listPartners() };
  }

  async getPartner(id: string): Promise<PartnerDetailDto> {
    const { partner, tags } = await this.partners.getPartner(id);
    const attribution = this.attributionView(await this.partners.attributionOf(id));
    return { ...partner, attribution, tags, keys: await this.auth.listKeys(id) };
  }

  async listApiKeys(q: ListKeysQueryDto): Promise<KeyListDto> {
    const items: KeyMetadata[] = await this.auth.listKeys(q.partner_id ?? undefined);
    return { items };
  }
}
