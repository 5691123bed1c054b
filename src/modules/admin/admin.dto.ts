import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { OneOf, Optional, Required, Str, StrList } from '../../common/validation';
import { ROLES, type Role } from '../auth/api-key.entity';

export class CreatePartnerDto {
  @ApiProperty({ description: 'Display name of the advertiser.', example: 'Acme Shoes', maxLength: 255 })
  @Required()
  @Str({ max: 255, min: 1 })
  name: string;
}

export class CreateTagDto {
  @ApiProperty({ description: 'Name of the tag (one per site or app).', example: 'acme.com main site', maxLength: 255 })
  @Required()
  @Str({ max: 255, min: 1 })
  name: string;

  @ApiPropertyOptional({
    description: 'Origins (scheme://host[:port]) the Tag may post from and the click redirect may send visitors to.',
    example: ['https://shop.acme.com'],
    type: [String],
  })
  @Optional()
  @StrList({ maxItems: 50, maxLength: 255 })
  allowed_origins?: string[];
}

export class CreateApiKeyDto {
  @ApiProperty({ description: 'What the key may do.', enum: ROLES, example: 'partner' })
  @Required()
  @OneOf(ROLES)
  role: Role;

  @ApiPropertyOptional({ description: 'Required for, and only for, role partner.', example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  @Optional()
  @Str({ max: 36, min: 1 })
  partner_id?: string;

  @ApiPropertyOptional({ description: 'A label for people.', example: 'acme production backend', maxLength: 255 })
  @Optional()
  @Str({ max: 255 })
  name?: string;
}

export class PartnerDto {
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) id: string;
  @ApiProperty({ example: 'Acme Shoes' }) name: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
}

export class TagDto {
  @ApiProperty({ example: '6f1c2d4e-0a8b-4c1e-9d2f-3b5a7c9e1f00' }) id: string;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
  @ApiProperty({ example: 'acme.com main site' }) name: string;
  @ApiProperty({ example: ['https://shop.acme.com'], type: [String] }) allowed_origins: string[];
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
}

export class IssuedApiKeyDto {
  @ApiProperty({ example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' }) id: string;
  @ApiProperty({ enum: ROLES, example: 'partner' }) role: Role;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30', nullable: true, type: String }) partner_id: string | null;
  @ApiProperty({ example: 'acme production backend', nullable: true, type: String }) name: string | null;
  @ApiProperty({ description: 'The secret. Shown only in this response; store it now.', example: 'thr_pk_q3VtN0f2…' }) key: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
}
