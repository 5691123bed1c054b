import { ApiProperty } from '@nestjs/swagger';
import { declaredFields, Required, Str } from '../../common/validation';
import { CONVERSION_FIELDS, ConversionBodyDto } from '../conversions/conversion.dto';

/**
 * The body of POST /api/tag/conversion: the seed's fields plus the signed click's `sig` and `exp`
 * (checked by SignedClickGuard before anything else; never stored under params.extra).
 */
export class TagConversionBodyDto extends ConversionBodyDto {
  @Required()
  @Str({ max: 128, min: 1 })
  @ApiProperty({
    description: 'The signature from the landing URL (`thrad_sig`).',
    example: 'kAb12Cd3.Qm9ndXNTaWduYXR1cmVGb3JEb2NzT25seUFBQUFBQUFBQUFBQUE',
  })
  sig: string;

  @Required()
  @ApiProperty({
    description: 'The expiry from the landing URL (`thrad_exp`), Unix seconds, as a number or a string of digits.',
    example: 1782475200,
    oneOf: [{ type: 'integer' }, { type: 'string', pattern: '^\\d{1,11}$' }],
  })
  exp: number | string;
}

/** The Tag's transport (the signed click's `sig` and `exp`): checked by the guard, never stored under params.extra. */
export const TAG_TRANSPORT_FIELDS: ReadonlySet<string> = new Set(
  [...declaredFields(TagConversionBodyDto)].filter((f) => !CONVERSION_FIELDS.has(f)),
);
