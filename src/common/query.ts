import { ValidateBy } from 'class-validator';
import { validate } from 'class-validator';
import { AppError } from './errors';
import { MAX_INSTANT_MS, MAX_NUMBER_LENGTH, MIN_INSTANT_MS } from './parsers';
import { Documented, toIssues } from './validation';

/*
 * Query-string helpers shared by the list endpoints: integer parameters in Pydantic's error shape,
 * and the opaque keyset cursor.
 */

const INT_RE = /^[+-]?\d+$/;

/** An integer as text: bounded before the (non-backtracking) pattern runs, whitespace around allowed. */
function isIntText(v: unknown): v is string {
  return typeof v === 'string' && v.length <= MAX_NUMBER_LENGTH && INT_RE.test(v.trim());
}

/** An integer query parameter (it arrives as text) within [min, max]. */
export function IntQuery(opts: { min: number; max: number }): PropertyDecorator {
  return (target: object, key: string | symbol) => {
    Documented({ type: 'integer', minimum: opts.min, maximum: opts.max })(target, key);
    ValidateBy({
      name: 'int_parsing',
      validator: {
        validate: (v) => (typeof v === 'number' && Number.isInteger(v)) || isIntText(v),
        defaultMessage: () => 'Input should be a valid integer, unable to parse string as an integer',
      },
    })(target, key as string);
    ValidateBy(
      {
        name: 'greater_than_equal',
        validator: {
          validate: (v) => !isIntText(v) || Number(v) >= opts.min,
          defaultMessage: () => `Input should be greater than or equal to ${opts.min}`,
        },
      },
      { context: { ctx: { ge: opts.min } } },
    )(target, key as string);
    ValidateBy(
      {
        name: 'less_than_equal',
        validator: {
          validate: (v) => !isIntText(v) || Number(v) <= opts.max,
          defaultMessage: () => `Input should be less than or equal to ${opts.max}`,
        },
      },
      { context: { ctx: { le: opts.max } } },
    )(target, key as string);
  };
}

export function intOr(v: string | number | undefined | null, def: number): number {
  return v === undefined || v === null || v === '' ? def : Number(v);
}

/** A position in a newest-first list: the (time, id) pair of the last row served. */
export interface Cursor {
  at: Date;
  id: string;
}

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.at.toISOString()}|${c.id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor from the query string, or throws a 422 on `query.cursor`. */
export function decodeCursor(raw: string | undefined | null): Cursor | null {
  if (raw === undefined || raw === null || raw === '') return null;
  const bad = () =>
    AppError.validation([
      {
        type: 'value_error',
        loc: ['query', 'cursor'],
        msg: 'Value error, invalid cursor (pass next_cursor from the previous page unchanged)',
        input: raw,
        ctx: { error: 'invalid cursor (pass next_cursor from the previous page unchanged)' },
      },
    ]);
  if (typeof raw !== 'string' || raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw bad();
  const text = Buffer.from(raw, 'base64url').toString('utf8');
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\|([\x21-\x7e]{1,64})$/.exec(text);
  if (!m) throw bad();
  const at = new Date(m[1]);
  const ms = at.getTime();
  // A forged cursor may name year 0000, which PostgreSQL cannot compare with: the storable range only.
  if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS) || at.toISOString() !== m[1]) throw bad();
  return { at, id: m[2] };
}

/**
 * Validates an optional JSON body against a DTO class (the global pipe requires a body; a few
 * POST routes may be called without one). Returns the body, `{}` when absent.
 */
export async function validateOptionalBody<T extends object>(dto: new () => T, body: unknown): Promise<T> {
  if (body === undefined || body === null) return {} as T;
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw AppError.validation([
      {
        type: 'model_attributes_type',
        loc: ['body'],
        msg: 'Input should be a valid dictionary or object to extract fields from',
        input: body,
      },
    ]);
  }
  const instance = Object.assign(Object.create(dto.prototype as object) as object, body);
  const errors = await validate(instance, { validationError: { target: false, value: true } });
  if (errors.length) {
    for (const e of errors) e.target = body;
    throw AppError.validation(toIssues(errors, 'body'));
  }
  return body as T;
}
