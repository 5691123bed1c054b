import { ApiProperty } from '@nestjs/swagger';
import { IntQuery } from '../../common/query';
import { Optional, Str } from '../../common/validation';

export class ListAuditQueryDto {
  @Optional()
  @Str({ max: 64, min: 1 })
  @ApiProperty({ description: 'Only entries of this action.', example: 'key.rotate' })
  action?: string;

  @Optional()
  @Str({ max: 32, min: 1 })
  @ApiProperty({
    description: 'Only entries about this kind of object.',
    enum: ['partner', 'tag', 'api_key'],
    example: 'partner',
  })
  target_type?: string;

  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'Only entries about this object (a partner, tag or key id).',
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  target_id?: string;

  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: 'Only entries made with this API key.',
    example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
  })
  actor_key_id?: string;

  @Optional()
  @IntQuery({ min: 1, max: 500 })
  @ApiProperty({
    description: 'Page size, 1 to 500.',
    example: 50,
    default: 50,
  })
  limit?: string;

  @Optional()
  @Str({ max: 200, min: 1 })
  @ApiProperty({
    description: 'Opaque: the `next_cursor` of the previous page, unchanged.',
    example: 'MjAyNi0wNS0yNlQxMjozNDo1Ni4wMDBafDNkMGY2YThl',
  })
  cursor?: string;
}

export class AuditActorDto {
  @ApiProperty({ example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' }) key_id: string;
  @ApiProperty({ example: 'admin' }) role: string;
}

export class AuditEntryDto {
  @ApiProperty({ example: '5b2e9c1a-7d3f-4e8b-9a6c-1f0e2d3c4b5a' }) id: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z', format: 'date-time' }) at: string;
  @ApiProperty({ type: AuditActorDto }) actor: AuditActorDto;
  @ApiProperty({
    example: 'partner.rename',
    description:
      'partner.create, partner.rename, partner.disable, partner.enable, tag.create, tag.update, key.create, key.revoke, key.rotate',
  })
  action: string;
  @ApiProperty({ enum: ['partner', 'tag', 'api_key'], example: 'partner' }) target_type: string;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) target_id: string;
  @ApiProperty({
    description: 'The object before the change (null for a creation). Never a secret.',
    nullable: true,
    type: 'object',
    additionalProperties: true,
    example: { name: 'Acme' },
  })
  before: object | null;
  @ApiProperty({
    description: 'The object after the change. Never a secret.',
    nullable: true,
    type: 'object',
    additionalProperties: true,
    example: { name: 'Acme Shoes' },
  })
  after: object | null;
}

export class AuditPageDto {
  @ApiProperty({ type: [AuditEntryDto], description: 'Newest first.' }) items: AuditEntryDto[];
  @ApiProperty({
    nullable: true,
    type: String,
    description: 'Pass as `cursor` for the next page; null on the last page.',
    example: null,
  })
  next_cursor: string | null;
}
