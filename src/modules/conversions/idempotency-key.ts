import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { AppError } from '../../common/errors';

const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * Idempotency-Key: 1..255 printable ASCII characters; absent is fine. Errors in Pydantic's shape, at
 * `loc` (the header's, or a batch item's `idempotency_key`).
 */
export function parseIdempotencyKey(
  value: string | string[] | undefined,
  loc: (string | number)[] = ['header', 'idempotency-key'],
): string | null {
  {
    if (value === undefined) return null;
    const v = Array.isArray(value) ? value.join(', ') : value;
    if (v.length < 1) {
      throw AppError.validation([
        {
          type: 'string_too_short',
          loc,
          msg: 'String should have at least 1 character',
          input: v,
          ctx: { min_length: 1 },
        },
      ]);
    }
    if (v.length > 255) {
      throw AppError.validation([
        {
          type: 'string_too_long',
          loc,
          msg: 'String should have at most 255 characters',
          input: v,
          ctx: { max_length: 255 },
        },
      ]);
    }
    if (!PRINTABLE.test(v)) {
      throw AppError.validation([
        {
          type: 'string_pattern_mismatch',
          loc,
          msg: "String should match pattern '^[\\x20-\\x7e]{1,255}$'",
          input: v,
          ctx: { pattern: '^[\\x20-\\x7e]{1,255}$' },
        },
      ]);
    }
    return v;
  }
}

/** The validated Idempotency-Key header of the request, or null. */
export const IdempotencyKey = createParamDecorator((_: unknown, ctx: ExecutionContext): string | null =>
  parseIdempotencyKey(
    ctx.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>().headers[
      'idempotency-key'
    ],
  ),
);
