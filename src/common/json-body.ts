import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { errorCodes } from 'fastify';
import sjson from 'secure-json-parse';
import { ValidationIssue } from './errors';
import { findUnstorableText } from './parsers';

export const BODY_LIMIT = 64 * 1024;

/** The batch route's body limit: up to 1,000 conversions. */
export const BATCH_BODY_LIMIT = 1024 * 1024;

/** Routes allowed a larger body than BODY_LIMIT (Fastify's per-route bodyLimit, set as each route is added). */
export const ROUTE_BODY_LIMITS = new Map<string, number>([['/api/conversions/batch', BATCH_BODY_LIMIT]]);

/**
 * Routes whose body is a list of independent items: text PostgreSQL cannot store is refused per
 * item by the route (so one bad item does not refuse the others), not here for the whole body.
 */
export const ITEM_CHECKED_ROUTES = new Set<string>(['/api/conversions/batch']);

/**
 * A body that could not be accepted. The parser does not fail the request itself: the guard must
 * answer 401/403 first (the contract's order is auth, then body), so the validation pipe throws
 * these issues as the 422 once the caller is known.
 */
export class InvalidBody {
  constructor(readonly issues: ValidationIssue[]) {}
}

export function parseJsonBody(text: string, checkText = true): unknown {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch (e) {
    const message = (e as Error).message;
    const pos = /position (\d+)/.exec(message);
    return new InvalidBody([
      {
        type: 'json_invalid',
        loc: ['body', pos ? Number(pos[1]) : 0],
        msg: 'JSON decode error',
        input: {},
        ctx: { error: message },
      },
    ]);
  }
  const path = checkText ? findUnstorableText(value) : undefined;
  if (path) {
    return new InvalidBody([
      {
        type: 'string_unicode',
        loc: ['body', ...path],
        msg: 'Input should be a valid string, NUL characters and unpaired surrogates cannot be stored',
        input: null,
      },
    ]);
  }
  return value;
}

/**
 * Routes that read a text/plain body as JSON: navigator.sendBeacon (and a CORS "simple" request)
 * cannot send application/json. On every other route text/plain is a 415, like any non-JSON type.
 */
export const TEXT_PLAIN_JSON_ROUTES = new Set<string>(['/api/tag/conversion']);

/** JSON bodies are parsed here (not by Fastify's parser, whose errors are 400s). */
export function registerJsonBodyParser(
  app: NestFastifyApplication,
  contentTypes: string[] = ['application/json'],
): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRoute', (route: { url: string; bodyLimit?: number }) => {
      const limit = ROUTE_BODY_LIMITS.get(route.url);
      if (limit) route.bodyLimit = limit;
    });
  app.useBodyParser(
    contentTypes,
    { bodyLimit: BODY_LIMIT },
    async (req: { routeOptions?: { url?: string } }, body: Buffer) =>
      parseJsonBody(body.toString('utf8'), !ITEM_CHECKED_ROUTES.has(req.routeOptions?.url ?? '')),
  );
  app.useBodyParser(
    ['text/plain'],
    { bodyLimit: BODY_LIMIT },
    async (req: { routeOptions?: { url?: string } }, body: Buffer) => {
      const text = body.toString('utf8');
      if (!TEXT_PLAIN_JSON_ROUTES.has(req.routeOptions?.url ?? ''))
        throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE();
      return parseJsonBody(text);
    },
  );
}
