import { DATA_MODES, DataMode } from '../../common/data-mode';
import { ApiProperty } from '@nestjs/swagger';
import { ValidateBy } from 'class-validator';
import { Documented, OneOf, Optional, Required, Str, StrList } from '../../common/validation';
import { ROLES, type Role } from '../auth/api-key.entity';
import { ATTRIBUTION_POLICIES, type AttributionPolicy } from '../partners/partner.entity';

export class CreatePartnerDto {
  @Required()
  @Str({ max: 255, min: 1 })
  @ApiProperty({ description: 'Display name of the advertiser.', example: 'Acme Shoes' })
  name: string;
}

export class CreateTagDto {
  @Required()
  @Str({ max: 255, min: 1 })
  @ApiProperty({ description: 'Name of the tag (one per site or app).', example: 'acme.com main site' })
  name: string;

  @Optional()
  @StrList({ maxItems: 50, maxLength: 255 })
  @ApiProperty({
    description: 'Origins (scheme://host[:port]) the Tag may post from and the click redirect may send visitors to.',
    example: ['https://shop.acme.com'],
  })
  allowed_origins?: string[];
}

export class CreateApiKeyDto {
  @Required()
  @OneOf(ROLES)
  @ApiProperty({ description: 'What the key may do.', example: 'partner' })
  role: Role;

  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: 'Required for, and only for, role partner.',
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  partner_id?: string;

  @Optional()
  @Str({ max: 255 })
  @ApiProperty({ description: 'A label for people.', example: 'acme production backend' })
  name?: string;

  @Optional()
  @OneOf(DATA_MODES)
  @ApiProperty({
    description:
      'Partner keys only: `test` makes a sandbox key (secret `thr_test_…`). Its conversions take every check but are ' +
      'test data: deduplicated only against other test conversions, attributable only to test clicks ' +
      '(POST /api/test/clicks), never in live listings, exports or metrics, purged after TEST_DATA_TTL.',
    enum: DATA_MODES,
    default: 'live',
    example: 'live',
  })
  mode?: DataMode;
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
  @ApiProperty({ enum: DATA_MODES, example: 'live', description: '`test` for a sandbox key.' }) mode: DataMode;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30', nullable: true, type: String }) partner_id:
    string | null;
  @ApiProperty({ example: 'acme production backend', nullable: true, type: String }) name: string | null;
  @ApiProperty({
    description: 'The secret (`thr_test_…` for a test key). Shown only in this response; store it now.',
    example: 'thr_pk_q3VtN0f2…',
  })
  key: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
}

/** A JSON integer within [min, max], Pydantic's error types. */
function IntBody(opts: { min: number; max: number }): PropertyDecorator {
  return (target: object, key: string | symbol) => {
    Documented({ type: 'integer', minimum: opts.min, maximum: opts.max })(target, key);
    ValidateBy({
      name: 'int_type',
      validator: {
        validate: (v) => typeof v === 'number' && Number.isInteger(v),
        defaultMessage: () => 'Input should be a valid integer',
      },
    })(target, key as string);
    ValidateBy(
      {
        name: 'greater_than_equal',
        validator: {
          validate: (v) => typeof v !== 'number' || v >= opts.min,
          defaultMessage: () => `Input should be greater than or equal to ${opts.min}`,
        },
      },
      { context: { ctx: { ge: opts.min } } },
    )(target, key as string);
    ValidateBy(
      {
        name: 'less_than_equal',
        validator: {
          validate: (v) => typeof v !== 'number' || v <= opts.max,
          defaultMessage: () => `Input should be less than or equal to ${opts.max}`,
        },
      },
      { context: { ctx: { le: opts.max } } },
    )(target, key as string);
  };
}

export const DEFAULT_GRACE_SECONDS = 86_400;
export const MAX_GRACE_SECONDS = 30 * 86_400;

export class RenamePartnerDto {
  @Required()
  @Str({ max: 255, min: 1 })
  @ApiProperty({ description: 'The new display name.', example: 'Acme Shoes Ltd' })
  name: string;
}

export class UpdateTagDto {
  @Optional()
  @Str({ max: 255, min: 1 })
  @ApiProperty({
    description: 'The new name; unchanged when absent.',
    example: 'acme.com checkout',
  })
  name?: string;

  @Optional()
  @StrList({ maxItems: 50, maxLength: 255 })
  @ApiProperty({
    description: 'Replaces the allowed origins (scheme://host[:port]); unchanged when absent. `[]` allows none.',
    example: ['https://shop.acme.com', 'https://m.acme.com'],
  })
  allowed_origins?: string[];
}

export class RotateApiKeyDto {
  @Optional()
  @IntBody({ min: 0, max: MAX_GRACE_SECONDS })
  @ApiProperty({
    description: `How long the old secret keeps working, in seconds (0 ends it now). Default ${DEFAULT_GRACE_SECONDS} (24 hours), at most ${MAX_GRACE_SECONDS} (30 days).`,
    example: 3600,
    default: DEFAULT_GRACE_SECONDS,
  })
  grace_seconds?: number;
}

export class ListKeysQueryDto {
  @Optional()
  @Str({ max: 36, min: 1 })
  @ApiProperty({
    description: "Only this partner's keys.",
    example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30',
  })
  partner_id?: string;
}

export class PartnerStateDto {
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) id: string;
  @ApiProperty({ example: 'Acme Shoes' }) name: string;
  @ApiProperty({
    description: 'When the partner was disabled (its keys stop working); null while active.',
    example: null,
    nullable: true,
    type: String,
  })
  disabled_at: string | null;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
}

export class PartnerListDto {
  @ApiProperty({ type: [PartnerStateDto], description: 'Every partner, oldest first.' }) items: PartnerStateDto[];
}

export class KeyMetadataDto {
  @ApiProperty({ example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' }) id: string;
  @ApiProperty({ enum: ROLES, example: 'partner' }) role: Role;
  @ApiProperty({ enum: DATA_MODES, example: 'live', description: '`test` for a sandbox key (prefix `thr_test_`).' })
  mode: DataMode;
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30', nullable: true, type: String }) partner_id:
    string | null;
  @ApiProperty({ example: 'acme production backend', nullable: true, type: String }) name: string | null;
  @ApiProperty({
    description:
      'To tell keys apart: a generated key shows its role prefix and 5 random characters; a secret an operator ' +
      'supplied (BOOTSTRAP_ADMIN_KEY) shows its role prefix and [h:8 hex digits of a hash], never part of the secret.',
    example: 'thr_pk_q3VtN',
  })
  prefix: string;
  @ApiProperty({ example: '2026-05-26T12:00:00.000Z' }) created_at: string;
  @ApiProperty({
    description: 'Set by a rotation: the key stops working at this instant.',
    example: null,
    nullable: true,
    type: String,
  })
  expires_at: string | null;
  @ApiProperty({
    description: 'Last successful use (kept in memory, written in batches).',
    example: '2026-05-26T13:00:00.000Z',
    nullable: true,
    type: String,
  })
  last_used_at: string | null;
  @ApiProperty({ example: null, nullable: true, type: String }) revoked_at: string | null;
}

export class KeyListDto {
  @ApiProperty({ type: [KeyMetadataDto], description: 'Oldest first. Never a secret.' }) items: KeyMetadataDto[];
}

export class AttributionSettingsDto {
  @ApiProperty({
    description:
      'Attribution window in days: a conversion later than this after its click is `outside_window`; null: ATTRIBUTION_WINDOW (30 days by default).',
    example: 30,
    type: Number,
    nullable: true,
  })
  window_days: number | null;

  @ApiProperty({ description: 'The window in force, in days.', example: 30 })
  effective_window_days: number;

  @ApiProperty({
    enum: ATTRIBUTION_POLICIES,
    description:
      '`flag`: a conversion failing an attribution-time check is recorded with its verdict and answered with `warnings`; `reject`: it is refused (422 at body.conversion_time) and nothing is written.',
    example: 'flag',
  })
  policy: AttributionPolicy;
}

export class PartnerAttributionDto extends AttributionSettingsDto {
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' }) partner_id: string;
}

export const MAX_ATTRIBUTION_WINDOW_DAYS = 365;

export class SetAttributionDto {
  @Required()
  @IntBody({ min: 1, max: MAX_ATTRIBUTION_WINDOW_DAYS })
  @ApiProperty({ description: "The partner's attribution window in days.", example: 30 })
  window_days: number;

  @Required()
  @OneOf(ATTRIBUTION_POLICIES)
  @ApiProperty({ description: '`flag` (the default) or `reject`.', example: 'flag' })
  policy: AttributionPolicy;
}

export class PartnerDetailDto extends PartnerStateDto {
  @ApiProperty({ type: AttributionSettingsDto, description: 'Attribution-time checks: window and policy.' })
  attribution: AttributionSettingsDto;
  @ApiProperty({ type: [TagDto] }) tags: TagDto[];
  @ApiProperty({ type: [KeyMetadataDto], description: "The partner's keys: metadata only, never secrets." })
  keys: KeyMetadataDto[];
}

export class RotationReplacesDto {
  @ApiProperty({ example: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' }) id: string;
  @ApiProperty({ description: 'When the old secret stops working.', example: '2026-05-27T12:00:00.000Z' })
  expires_at: string;
}

export class RotatedApiKeyDto extends IssuedApiKeyDto {
  @ApiProperty({ type: RotationReplacesDto }) replaces: RotationReplacesDto;
}

const MAX_RATE = 10_000_000;

/** A whole number from 0 to MAX_RATE, or null (Pydantic's int_type / range errors). */
function RatePerMinute(): PropertyDecorator {
  return (target, key) => {
    Documented({ type: 'integer', nullable: true, minimum: 0, maximum: MAX_RATE })(target, key);
    ValidateBy({
      name: 'int_type',
      validator: {
        validate: (v) => v === null || (typeof v === 'number' && Number.isInteger(v)),
        defaultMessage: () => 'Input should be a valid integer',
      },
    })(target, key);
    ValidateBy(
      {
        name: 'greater_than_equal',
        validator: {
          validate: (v) => typeof v !== 'number' || v >= 0,
          defaultMessage: () => 'Input should be greater than or equal to 0',
        },
      },
      { context: { ctx: { ge: 0 } } },
    )(target, key);
    ValidateBy(
      {
        name: 'less_than_equal',
        validator: {
          validate: (v) => typeof v !== 'number' || v <= MAX_RATE,
          defaultMessage: () => `Input should be less than or equal to ${MAX_RATE}`,
        },
      },
      { context: { ctx: { le: MAX_RATE } } },
    )(target, key);
  };
}

export class SetRateLimitDto {
  @Required()
  @RatePerMinute()
  @ApiProperty({
    description:
      "Requests per minute per API key of this partner; 0 for unlimited; null to fall back to the service's RATE_LIMIT_PER_MINUTE.",
    example: 1200,
  })
  rate_limit_per_minute: number | null;
}

export class RateLimitDto {
  @ApiProperty({ example: '0b7e3a52-5d1f-4c1a-8e7b-2f9d6c4a1b30' })
  partner_id: string;

  @ApiProperty({
    description: "The partner's own limit; null when it uses the default.",
    example: 1200,
    type: Number,
    nullable: true,
  })
  rate_limit_per_minute: number | null;

  @ApiProperty({ description: 'The limit in force for its keys (0: unlimited).', example: 1200 })
  effective_per_minute: number;
}
