import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { errorCodes } from 'fastify';
import sjson from 'secure-json-parse';
import { ValidationIssue } from './errors';
import { findUnstorableText, invalidUtf8Offset, jsonNestingBeyond, MAX_JSON_DEPTH } from './parsers';

export const BODY_LIMIT = 64 * 1024;

/** The batch routes' body limit: up to 1,000 conversions, or 1,000 adjustments. */
export const BATCH_BODY_LIMIT = 1024 * 1024;

/** Routes allowed a larger body than BODY_LIMIT (Fastify's per-route bodyLimit, set as each route is added). */
export const ROUTE_BODY_LIMITS = new Map<string, number>([
  ['/api/conversions/batch', BATCH_BODY_LIMIT],
  ['/api/conversion/adjustments', BATCH_BODY_LIMIT],
]);

/**
 * Routes whose body is a list of independent items: text PostgreSQL cannot store is refused per
 * item by the route (so one bad item does not refuse the others), not here for the whole body.
 */
export const ITEM_CHECKED_ROUTES = new Set<string>(['/api/conversions/batch', '/api/conversion/adjustments']);

/**
 * A body that could not be accepted. The parser does not fail the request itself: the guard must
 * answer 401/403 first (the contract's order is auth, then body), so the validation pipe throws
 * these issues as the 422 once the caller is known.
 */
export class InvalidBody {
  constructor(readonly issues: ValidationIssue[]) {}
}

function jsonInvalid(position: number, error: string): InvalidBody {
  return new InvalidBody([
    { type: 'json_invalid', loc: ['body', position], msg: 'JSON decode error', input: {}, ctx: { error } },
  ]);
}

/** Refuses malformed UTF-8 instead of replacing it: text is stored exactly as sent, or refused. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body's text, or the 422 for bytes that are not UTF-8 (a truncated sequence, a stray 0xff). */
export function decodeJsonText(body: Buffer): string | InvalidBody {
  try {
    return UTF8.decode(body);
  } catch {
    return jsonInvalid(Math.max(0, invalidUtf8Offset(body)), 'invalid UTF-8 in the body');
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;

/**
 * Bodies of item-checked routes whose text holds no `\u` escape and no surrogate, so that no text
 * in them (key or value, at any depth) can be unstorable: the route need not walk their items.
 */
const STORABLE_BODIES = new WeakSet<object>();

/** This parsed body was proven free of unstorable text by its own text (see STORABLE_BODIES). */
export function isKnownStorable(body: unknown): boolean {
  return typeof body === 'object' && body !== null && STORABLE_BODIES.has(body);
}

/** secure-json-parse's refusal of `__proto__` keys, and of `constructor` keys holding a `prototype`. */
const PROTO_SAFE = { protoAction: 'error', constructorAction: 'error' } as const;
const PROTO_IGNORED = { protoAction: 'ignore', constructorAction: 'ignore' } as const;
const FORBIDDEN_KEY_ERROR = 'Object contains forbidden prototype property';

/**
 * Bodies of item-checked routes whose text may spell a forbidden prototype key inside an item
 * (`__proto__`, `constructor`, or any `\u` escape): each item is scanned by itemForbiddenKey, so that
 * one such item is refused alone, as one unstorable item is. Everything outside the items was
 * scanned by the parser, and a forbidden key there refuses the whole request.
 */
const ITEMS_UNSCANNED = new WeakSet<object>();

/**
 * The 422 issue for an item of an item-checked body that holds a forbidden prototype key, at the
 * item's `loc` (the single route refuses the same object as malformed JSON, at a text position).
 * Undefined when the item is clean, or the body's text proved no item can hold one.
 */
export function itemForbiddenKey(body: unknown, item: unknown, loc: (string | number)[]): ValidationIssue | undefined {
  if (typeof body !== 'object' || body === null || !ITEMS_UNSCANNED.has(body)) return undefined;
  if (typeof item !== 'object' || item === null) return undefined;
  try {
    sjson.scan(item, PROTO_SAFE);
    return undefined;
  } catch {
    return { type: 'json_invalid', loc, msg: 'JSON decode error', input: {}, ctx: { error: FORBIDDEN_KEY_ERROR } };
  }
}

/**
 * Scans an item-checked body except its items (the elements of its top-level arrays, each left to
 * itemForbiddenKey); throws as secure-json-parse does.
 */
function scanEnvelope(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) return void sjson.scan(value, PROTO_SAFE);
  const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
  const ctor = own(value, 'constructor') ? (value as { constructor: unknown }).constructor : undefined;
  if (own(value, '__proto__') || (typeof ctor === 'object' && ctor !== null && own(ctor, 'prototype')))
    throw new SyntaxError(FORBIDDEN_KEY_ERROR);
  for (const v of Object.values(value)) {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) sjson.scan(v, PROTO_SAFE);
  }
}

export function parseJsonBody(text: string, checkText = true): unknown {
  if (text.trim() === '') return undefined;
  // One cheap pass first: nothing deeper than the limit is parsed, let alone walked.
  const deep = jsonNestingBeyond(text);
  if (deep >= 0) return jsonInvalid(deep, `nesting is deeper than ${MAX_JSON_DEPTH} levels`);
  // On item-checked routes, a forbidden key inside an item is that item's refusal (itemForbiddenKey).
  const itemsMayHoldForbidden =
    !checkText && (text.includes('__proto__') || text.includes('constructor') || text.includes('\\u'));
  let value: unknown;
  try {
    value = sjson.parse(text, undefined, itemsMayHoldForbidden ? PROTO_IGNORED : PROTO_SAFE);
    if (itemsMayHoldForbidden) scanEnvelope(value);
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
  // NUL and lone surrogates arrive as \u escapes (raw control characters are not JSON; decoded UTF-8
  // holds no surrogates), so a body with neither needs no walk. Item-checked routes check per item.
  const mayHoldUnstorable = text.includes('\\u') || SURROGATE.test(text);
  if (!checkText && !mayHoldUnstorable && typeof value === 'object' && value !== null) STORABLE_BODIES.add(value);
  if (itemsMayHoldForbidden && typeof value === 'object' && value !== null) ITEMS_UNSCANNED.add(value);
  const path = checkText && mayHoldUnstorable ? findUnstorableText(value) : undefined;
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
    async (req: { routeOptions?: { url?: string } }, body: Buffer) => {
      const text = decodeJsonText(body);
      return text instanceof InvalidBody
        ? text
        : parseJsonBody(text, !ITEM_CHECKED_ROUTES.has(req.routeOptions?.url ?? ''));
    },
  );
  app.useBodyParser(
    ['text/plain'],
    { bodyLimit: BODY_LIMIT },
    async (req: { routeOptions?: { url?: string } }, body: Buffer) => {
      if (!TEXT_PLAIN_JSON_ROUTES.has(req.routeOptions?.url ?? ''))
        throw new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE();
      const text = decodeJsonText(body);
      return text instanceof InvalidBody ? text : parseJsonBody(text);
    },
  );
}
