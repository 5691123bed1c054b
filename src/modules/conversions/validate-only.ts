import { applyDecorators, createParamDecorator, ExecutionContext } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { parseBoolQuery } from '../../common/bool-query';
import { AppError } from '../../common/errors';

/*
 * `?validate_only=true`: run every check of a conversion (auth, body, click, bid, and whether its
 * dedup key is already held) and write nothing. The value is read as Pydantic reads a bool from a
 * query string; anything else is a 422 on ["query","validate_only"].
 */

/** The parameter's value: true, false (also when absent), or undefined when it is not a boolean. */
export const parseValidateOnly = (raw: unknown): boolean | undefined => parseBoolQuery(raw);

const readValidateOnly = createParamDecorator((_: unknown, ctx: ExecutionContext): boolean => {
  const raw = (ctx.switchToHttp().getRequest<FastifyRequest>().query as Record<string, unknown> | undefined)
    ?.validate_only;
  const v = parseValidateOnly(raw);
  if (v === undefined) {
    throw AppError.validation([
      {
        type: 'bool_parsing',
        loc: ['query', 'validate_only'],
        msg: 'Input should be a valid boolean, unable to interpret input',
        input: Array.isArray(raw) ? raw : typeof raw === 'string' && raw.length > 64 ? `${raw.slice(0, 64)}…` : raw,
      },
    ]);
  }
  return v;
});

/** The route's `validate_only` query parameter as a boolean, documented. */
export const ValidateOnly = (): ParameterDecorator => (target, key, index) => {
  readValidateOnly()(target, key, index);
  if (key !== undefined) {
    applyDecorators(
      ApiQuery({
        name: 'validate_only',
        required: false,
        schema: { type: 'boolean', default: false },
        description:
          'Run every check (auth, body, click, bid, whether the dedup key is already held) and write nothing, not ' +
          'even a dedup claim. The answer is the one a real request would get, plus `"validate_only": true`; an ' +
          '`ok` carries no `conversion_id` (nothing was written). `true`/`false` (also `1`/`0`); anything else is a ' +
          '422 at `["query","validate_only"]`.',
        example: true,
      }),
    )(target, key, Object.getOwnPropertyDescriptor(target, key)!);
  }
};
