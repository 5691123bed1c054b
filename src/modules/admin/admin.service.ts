import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { AppError } from '../../common/errors';
import { AuthService, IssuedKey } from '../auth/auth.service';
import { PartnersService, PartnerView, TagView } from '../partners/partners.service';
import { CreateApiKeyDto, CreatePartnerDto, CreateTagDto } from './admin.dto';

/** Composes what the other modules export; owns no tables. */
@Injectable()
export class AdminService {
  constructor(
    private readonly partners: PartnersService,
    private readonly auth: AuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  createPartner(dto: CreatePartnerDto): Promise<PartnerView> {
    return this.partners.createPartner(dto.name);
  }

  createTag(partnerId: string, dto: CreateTagDto): Promise<TagView> {
    return this.partners.createTag(partnerId, dto.name, dto.allowed_origins ?? []);
  }

  async createApiKey(dto: CreateApiKeyDto): Promise<IssuedKey> {
    const partnerId = dto.partner_id ?? null;
    if (dto.role === 'partner' && partnerId === null) {
      throw AppError.validation([
        { type: 'missing', loc: ['body', 'partner_id'], msg: 'Field required for role partner', input: dto },
      ]);
    }
    if (dto.role !== 'partner' && partnerId !== null) {
      throw AppError.validation([
        { type: 'extra_forbidden', loc: ['body', 'partner_id'], msg: 'Only partner keys belong to a partner', input: partnerId },
      ]);
    }
    if (partnerId !== null && !(await this.partners.partnerExists(partnerId))) throw AppError.notFound('Partner');
    return this.auth.createApiKey({ role: dto.role, partner_id: partnerId, name: dto.name ?? null });
  }

  async setPartnerRateLimit(partnerId: string, perMinute: number | null): Promise<{ partner_id: string; rate_limit_per_minute: number | null; effective_per_minute: number }> {
    await this.partners.setRateLimit(partnerId, perMinute);
    return { partner_id: partnerId, rate_limit_per_minute: perMinute, effective_per_minute: perMinute ?? this.config.rateLimitPerMinute };
  }

  revokeApiKey(id: string): Promise<void> {
    return this.auth.revokeApiKey(id);
  }
}
