import { Injectable } from '@nestjs/common';
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

  revokeApiKey(id: string): Promise<void> {
    return this.auth.revokeApiKey(id);
  }
}
