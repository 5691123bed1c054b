import { ArgumentMetadata, Body, PipeTransform } from '@nestjs/common';
import { ApiBody } from '@nestjs/swagger';
import { parseCurrency, parseDateTime, parseNumberLike, toDecimalString } from '../../common/parsers';
import { AppValidationPipe } from '../../common/validation';
import { CONVERSION_FIELDS, ConversionBodyDto } from './conversion.dto';

export const DEFAULT_EVENT_TYPE = 'purchase_completed';

/**
 * A conversion as every door hands it to ConversionsService.record: built once, at the boundary,
 * from a body the validation pipe passed; nothing after it parses the body again.
 */
export interface ConversionCommand {
  click_id: string;
  /** `purchase_completed` when the body has none. */
  event_type: string;
  /** The parsed instant (UTC). */
  conversion_time: Date;
  /** The canonical decimal string (at most 6 places), exactly what is stored. */
  conversion_value: string;
  /** Upper-case ISO 4217. */
  currency: string;
  order_id: string | null;
  event_id: string | null;
  /** The caller's tag override (checked to be the caller's in record); null for the click's tag. */
  tag_id: string | null;
  page_url: string | null;
  referrer: string | null;
  user_agent: string | null;
  session_id: string | null;
  client_id: string | null;
  /** Every other body key, exactly as sent: stored as params.extra. */
  extra: Record<string, unknown>;
}

const NO_FIELDS: ReadonlySet<string> = new Set();

/**
 * The command of a validated body. `transportFields` are keys of the door's own transport (the
 * Tag's signed click), neither conversion fields nor extras: they are dropped.
 */
export function toConversionCommand(
  body: ConversionBodyDto,
  transportFields: ReadonlySet<string> = NO_FIELDS,
): ConversionCommand {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!CONVERSION_FIELDS.has(k) && !transportFields.has(k)) extra[k] = v;
  }
  return {
    click_id: body.click_id,
    event_type: body.event_type ?? DEFAULT_EVENT_TYPE,
    conversion_time: (parseDateTime(body.conversion_time) as { date: Date }).date,
    conversion_value: toDecimalString(parseNumberLike(body.conversion_value)!),
    currency: parseCurrency(body.currency)!,
    order_id: body.order_id ?? null,
    event_id: body.event_id ?? null,
    tag_id: body.tag_id ?? null,
    page_url: body.page_url ?? null,
    referrer: body.referrer ?? null,
    user_agent: body.user_agent ?? null,
    session_id: body.session_id ?? null,
    client_id: body.client_id ?? null,
    extra,
  };
}

/**
 * Validates the body against `dto` (the app's validation pipe, so every 422 is the one the route
 * always gave) and turns it into a ConversionCommand.
 */
export class ConversionCommandPipe implements PipeTransform<unknown, Promise<ConversionCommand>> {
  private readonly validation = new AppValidationPipe();

  constructor(
    private readonly dto: typeof ConversionBodyDto = ConversionBodyDto,
    private readonly transportFields: ReadonlySet<string> = NO_FIELDS,
  ) {}

  async transform(value: unknown, metadata: ArgumentMetadata): Promise<ConversionCommand> {
    const body = await this.validation.transform(value, { ...metadata, type: 'body', metatype: this.dto });
    return toConversionCommand(body as ConversionBodyDto, this.transportFields);
  }
}

/**
 * The request body as a ConversionCommand: validated against `dto` and built once. The parameter's
 * type is the command, so the body is documented as `dto` here (unless `documented: false`, for a
 * route that documents its body itself).
 */
export function ConversionBody(
  opts: { dto?: typeof ConversionBodyDto; transportFields?: ReadonlySet<string>; documented?: boolean } = {},
): ParameterDecorator {
  const dto = opts.dto ?? ConversionBodyDto;
  const body = Body(new ConversionCommandPipe(dto, opts.transportFields));
  return (target, key, index) => {
    body(target, key, index);
    if (opts.documented !== false && key !== undefined) {
      ApiBody({ type: dto })(target, key, Object.getOwnPropertyDescriptor(target, key)!);
    }
  };
}
