import { applyDecorators, ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptions } from '@nestjs/swagger';
import {
  getMetadataStorage,
  IsOptional,
  validate,
  ValidateBy,
  ValidationError,
  ValidationTypes,
} from 'class-validator';
import { AppError, ValidationIssue } from './errors';
import { InvalidBody } from './json-body';
import {
  codePointLength,
  findUnstorableText,
  MAX_MONEY,
  parseCurrency,
  parseDateTime,
  parseNumberLike,
} from './parsers';

/*
 * Validation speaks Pydantic: each class-validator constraint is named after the Pydantic error
 * type it stands for, and its message is Pydantic's, so the exception factory only has to pick
 * the most important failure per field and put it in `{type, loc, msg, input, ctx?}` form.
 */

/** Which failure to report when a field fails several checks: presence, then type, then value. */
const PRIORITY = [
  'missing',
  'string_type',
  'float_type',
  'float_parsing',
  'datetime_type',
  'datetime_parsing',
  'datetime_from_date_parsing',
  'list_type',
  'enum',
  'finite_number',
  'string_too_short',
  'string_too_long',
  'less_than',
  'greater_than',
  'too_long',
  'url_parsing',
  'value_error',
];

function rule(
  name: string,
  validate: (v: unknown) => boolean,
  msg: string | ((v: unknown) => string),
  ctx?: Record<string, unknown> | ((v: unknown) => Record<string, unknown> | undefined),
): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: {
        validate: (v) => validate(v),
        defaultMessage: (args) => (typeof msg === 'function' ? msg(args?.value) : msg),
      },
    },
    // The context travels with the error; a function is resolved by the exception factory.
    { context: { ctx } },
  );
}

/*
 * Each rule below also documents itself: it merges its limits (type, length, format, enum, range)
 * into the field's OpenAPI schema, as immich's ValidateUUID does, so a limit is written once and
 * the docs cannot drift from what is enforced. A DTO's own @ApiProperty keeps only the prose
 * (description, example, default); put it below the rules, so the schema lists the prose first.
 */

/** The OpenAPI half of a rule, merged into whatever the field's @ApiProperty says. */
export function Documented(options: ApiPropertyOptions): PropertyDecorator {
  return ApiProperty(options) as PropertyDecorator;
}

/** The field must be present (null is present: it then fails its type check, as in Pydantic). */
export const Required = () =>
  applyDecorators(
    rule('missing', (v) => v !== undefined, 'Field required'),
    Documented({ required: true }),
  );

/** Optional: absent and null are the same. */
export const Optional = () => applyDecorators(IsOptional(), Documented({ required: false }));

/**
 * Whether a string's length in code points (as Pydantic counts: 255 emoji are 255 characters) is
 * within [min, max]. UTF-16 length bounds it on both sides (cp <= units <= 2 cp), so the count is
 * only made when those bounds cannot decide.
 */
export function lengthWithin(s: string, min: number, max: number): boolean {
  if (s.length > 2 * max || s.length < min) return false;
  if (s.length <= max && s.length >= 2 * min) return true;
  const n = codePointLength(s);
  return n >= min && n <= max;
}

export function Str(opts: { max: number; min?: number }): PropertyDecorator {
  const min = opts.min ?? 0;
  return applyDecorators(
    Documented({ type: 'string', ...(min > 0 ? { minLength: min } : {}), maxLength: opts.max }),
    rule('string_type', (v) => typeof v === 'string', 'Input should be a valid string'),
    rule(
      'string_too_long',
      (v) => typeof v !== 'string' || lengthWithin(v, 0, opts.max),
      `String should have at most ${opts.max} character${opts.max === 1 ? '' : 's'}`,
      { max_length: opts.max },
    ),
    ...(min > 0
      ? [
          rule(
            'string_too_short',
            (v) => typeof v !== 'string' || lengthWithin(v, min, Infinity),
            `String should have at least ${min} character${min === 1 ? '' : 's'}`,
            { min_length: min },
          ),
        ]
      : []),
  );
}

/** An absolute http(s) URL. */
export function HttpUrl(max: number): PropertyDecorator {
  return applyDecorators(
    Str({ max, min: 1 }),
    Documented({ format: 'uri' }),
    rule(
      'url_parsing',
      (v) => typeof v !== 'string' || isHttpUrl(v),
      'Input should be a valid URL, relative URL without a base',
      { error: 'relative URL without a base' },
    ),
  );
}

export function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

export function OneOf(values: readonly string[]): PropertyDecorator {
  const expected = values
    .map((v) => `'${v}'`)
    .join(', ')
    .replace(/, ([^,]*)$/, ' or $1');
  return applyDecorators(
    Documented({ type: 'string', enum: [...values] }),
    rule('enum', (v) => typeof v === 'string' && values.includes(v), `Input should be ${expected}`, { expected }),
  );
}

/** A finite number or numeric string, below the money column's bound. */
export function Money(): PropertyDecorator {
  return applyDecorators(
    Documented({
      oneOf: [
        { type: 'number', minimum: -MAX_MONEY, maximum: MAX_MONEY, exclusiveMinimum: true, exclusiveMaximum: true },
        { type: 'string', pattern: '^-?\\d+(\\.\\d+)?$' },
      ],
    }),
    rule('float_type', (v) => typeof v === 'number' || typeof v === 'string', 'Input should be a valid number'),
    rule(
      'float_parsing',
      (v) => typeof v !== 'string' || parseNumberLike(v) !== undefined,
      'Input should be a valid number, unable to parse string as a number',
    ),
    rule(
      'finite_number',
      (v) => {
        const n = parseNumberLike(v);
        return n === undefined || Number.isFinite(n);
      },
      'Input should be a finite number',
    ),
    rule(
      'less_than',
      (v) => {
        const n = parseNumberLike(v);
        return n === undefined || !Number.isFinite(n) || Math.abs(n) < MAX_MONEY;
      },
      `Input should be less than ${MAX_MONEY} in magnitude`,
      { lt: MAX_MONEY },
    ),
  );
}

export function DateTime(): PropertyDecorator {
  return applyDecorators(
    Documented({ type: 'string', format: 'date-time' }),
    rule('datetime_type', (v) => typeof v === 'string' || typeof v === 'number', 'Input should be a valid datetime'),
    rule(
      'datetime_from_date_parsing',
      (v) => (typeof v !== 'string' && typeof v !== 'number') || parseDateTime(v).ok,
      (v) => {
        const r = parseDateTime(v);
        return r.ok ? '' : r.msg;
      },
      (v) => {
        const r = parseDateTime(v);
        return r.ok || !r.error ? undefined : { error: r.error };
      },
    ),
  );
}

export function Currency(): PropertyDecorator {
  return applyDecorators(
    Str({ max: 3, min: 3 }),
    rule(
      'value_error',
      (v) => typeof v !== 'string' || v.length !== 3 || parseCurrency(v) !== undefined,
      'Value error, not a valid ISO 4217 currency code',
      { error: 'not a valid ISO 4217 currency code' },
    ),
  );
}

export function StrList(opts: { maxItems: number; maxLength: number }): PropertyDecorator {
  return applyDecorators(
    Documented({ type: [String], maxItems: opts.maxItems, maxLength: opts.maxLength }),
    rule('list_type', (v) => Array.isArray(v), 'Input should be a valid list'),
    rule(
      'too_long',
      (v) => !Array.isArray(v) || v.length <= opts.maxItems,
      `List should have at most ${opts.maxItems} items after validation`,
      { max_length: opts.maxItems },
    ),
    rule(
      'string_type',
      (v) => !Array.isArray(v) || v.every((x) => typeof x === 'string' && lengthWithin(x, 0, opts.maxLength)),
      `Input should be a list of strings of at most ${opts.maxLength} characters`,
    ),
  );
}

/** Names of the properties a DTO class declares through class-validator decorators. */
export function declaredFields(dto: Function): Set<string> {
  return new Set(
    getMetadataStorage()
      .getTargetValidationMetadatas(dto, '', true, false)
      .map((m) => m.propertyName),
  );
}

export function toIssues(
  errors: ValidationError[],
  where: 'body' | 'query' | 'path',
  path: (string | number)[] = [],
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const e of errors) {
    const loc = [where, ...path, e.property];
    if (e.constraints) {
      const keys = Object.keys(e.constraints);
      const type = PRIORITY.find((k) => keys.includes(k)) ?? keys[0];
      const issue: ValidationIssue = {
        type,
        loc,
        msg: e.constraints[type],
        input: type === 'missing' ? (e.target ?? {}) : e.value,
      };
      const raw = (e.contexts?.[type] as { ctx?: unknown } | undefined)?.ctx;
      const ctx = typeof raw === 'function' ? raw(e.value) : raw;
      if (ctx) issue.ctx = ctx;
      issues.push(issue);
    }
    if (e.children?.length) issues.push(...toIssues(e.children, where, [...path, e.property]));
  }
  return issues;
}

/**
 * The global validation pipe. Unknown keys are kept (they go to `params.extra`), so nothing is
 * whitelisted away; handlers get the plain body, exactly as sent, and build commands from it.
 * A body must be a JSON object; anything else is Pydantic's `model_attributes_type`.
 */
@Injectable()
export class AppValidationPipe implements PipeTransform {
  async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (value instanceof InvalidBody) throw AppError.validation(value.issues);
    if (metadata.type === 'param' && typeof value === 'string') return checkPathParam(value, metadata.data ?? 'param');
    if (metadata.type === 'query') checkQueryText(value, metadata.data);
    if (metadata.type !== 'body' && metadata.type !== 'query') return value;
    if (!metadata.metatype || !isDtoClass(metadata.metatype)) return value;
    const where = metadata.type;
    if (where === 'body') {
      if (value === undefined || value === null) {
        throw AppError.validation([{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
      }
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw AppError.validation([
          {
            type: 'model_attributes_type',
            loc: ['body'],
            msg: 'Input should be a valid dictionary or object to extract fields from',
            input: value,
          },
        ]);
      }
    }
    // class-validator finds the rules through the constructor; no class-transformer pass is
    // needed (and none may alter the values that are stored exactly as sent).
    const instance = Object.assign(Object.create(metadata.metatype.prototype as object) as object, value);
    // A valid body is the common case: check it with the DTO's own rules, without class-validator's
    // per-call bookkeeping. Any failure (or a rule the fast check does not know) goes through
    // class-validator below, so every 422 body is produced exactly as before.
    if (fastCheckFor(metadata.metatype)?.(instance)) return value;
    const errors = await validate(instance, { validationError: { target: false, value: true } });
    if (errors.length) {
      for (const e of errors) e.target = value as object;
      throw AppError.validation(toIssues(errors, where));
    }
    return value;
  }
}

/** Every query parameter (whatever the route or DTO) is text the database can store, or a 422. */
function checkQueryText(query: unknown, name: string | undefined): void {
  if (typeof query !== 'string' && (!query || typeof query !== 'object')) return;
  const path = findUnstorableText(query);
  if (path) {
    throw AppError.validation([
      {
        type: 'string_unicode',
        loc: ['query', ...(name ? [name] : []), ...path],
        msg: 'Input should be a valid string, NUL characters and unpaired surrogates cannot be stored',
        input: null,
      },
    ]);
  }
}

/** Path parameters are ids: at most 255 characters of text the database can store. */
function checkPathParam(value: string, name: string): string {
  if (!lengthWithin(value, 0, 255)) {
    throw AppError.validation([
      {
        type: 'string_too_long',
        loc: ['path', name],
        msg: 'String should have at most 255 characters',
        input: value,
        ctx: { max_length: 255 },
      },
    ]);
  }
  if (findUnstorableText(value)) {
    throw AppError.validation([
      {
        type: 'string_unicode',
        loc: ['path', name],
        msg: 'Input should be a valid string, NUL characters and unpaired surrogates cannot be stored',
        input: null,
      },
    ]);
  }
  return value;
}

function isDtoClass(metatype: Function): boolean {
  return ![String, Boolean, Number, Array, Object].includes(metatype as never);
}

type FastCheck = (instance: object) => boolean;
const fastChecks = new Map<Function, FastCheck | null>();

function fastCheckFor(dto: Function): FastCheck | null {
  let check = fastChecks.get(dto);
  if (check === undefined) {
    check = compileFastCheck(dto);
    fastChecks.set(dto, check);
  }
  return check;
}

/**
 * The DTO's class-validator rules as one synchronous predicate: true only when class-validator
 * would find no error. Supports what our decorators register (custom constraints, IsOptional);
 * anything else (groups, `each`, nested, async or conditional rules) gets null, the full path.
 */
export function compileFastCheck(dto: Function): FastCheck | null {
  const storage = getMetadataStorage();
  const metas = storage.getTargetValidationMetadatas(dto, '', false, false);
  if (!metas.length) return null;
  type Rule = { validate: (v: unknown, args: unknown) => unknown; constraints: unknown[] };
  const props = new Map<string, { conditions: ((o: object, v: unknown) => boolean)[]; rules: Rule[] }>();
  for (const m of metas) {
    if (m.each || m.validateIf || m.always || m.groups?.length) return null;
    let p = props.get(m.propertyName);
    if (!p) props.set(m.propertyName, (p = { conditions: [], rules: [] }));
    if (m.type === ValidationTypes.CONDITIONAL_VALIDATION) {
      p.conditions.push(m.constraints[0] as (o: object, v: unknown) => boolean);
    } else if (m.type === ValidationTypes.CUSTOM_VALIDATION) {
      for (const c of storage.getTargetValidatorConstraints(m.constraintCls)) {
        if (c.async) return null;
        const instance = c.instance as { validate: Rule['validate'] };
        p.rules.push({ validate: instance.validate.bind(instance), constraints: m.constraints });
      }
    } else {
      return null;
    }
  }
  const list = [...props].map(([property, p]) => ({ property, ...p }));
  const targetName = dto.name;
  return (object) => {
    for (const p of list) {
      const value = (object as Record<string, unknown>)[p.property];
      if (p.conditions.length && !p.conditions.every((c) => c(object, value))) continue;
      for (const r of p.rules) {
        const ok = r.validate(value, { targetName, property: p.property, object, value, constraints: r.constraints });
        if (!ok || ok instanceof Promise) return false;
      }
    }
    return true;
  };
}
