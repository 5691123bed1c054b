import { validate } from 'class-validator';
import { ValidationIssue } from '../../common/errors';
import { itemForbiddenKey } from '../../common/json-body';
import { findUnstorableText } from '../../common/parsers';
import { compileFastCheck, toIssues } from '../../common/validation';
import { ConversionCommand, toConversionCommand } from './conversion.command';
import { ConversionBodyDto } from './conversion.dto';
import { parseIdempotencyKey } from './idempotency-key';

/** A batch item that passed the single route's body checks: its command (built once) and its own key. */
export interface ValidConversionItem {
  ok: true;
  command: ConversionCommand;
  idempotencyKey: string | null;
}

export interface InvalidConversionItem {
  ok: false;
  issues: ValidationIssue[];
}

const fastCheck = compileFastCheck(ConversionBodyDto);

export type CheckedConversionItem = ValidConversionItem | InvalidConversionItem;

/**
 * One conversion of a batch, held to exactly the rules of POST /api/conversion's body (the same
 * DTO, the same fast check, the same Pydantic issues), with every `loc` at `loc` (for a batch,
 * `["body","conversions",i]`) instead of `["body"]`. `textKnownStorable`: the whole body's text was
 * proven free of unstorable text (json-body's isKnownStorable), so the item is not walked for it.
 * `body`: the whole parsed body, whose text says whether the item must be scanned for a forbidden
 * prototype key (json-body's itemForbiddenKey: the single route refuses such a body as malformed
 * JSON; here only the item is refused). The item's `idempotency_key` follows the
 * Idempotency-Key header's rule and is taken off the body, so it is never stored in params.extra.
 *
 * A valid item becomes the same ConversionCommand the single route's pipe builds.
 *
 * The answer is synchronous unless the fast check fails (then class-validator, which is async,
 * finds the issues): a batch of valid items costs no promise per item.
 */
export function validateConversionItem(
  raw: unknown,
  loc: (string | number)[],
  textKnownStorable = false,
  body?: unknown,
): CheckedConversionItem | Promise<CheckedConversionItem> {
  const [where, ...path] = loc as ['body', ...(string | number)[]];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return {
      ok: false,
      issues: [
        {
          type: 'model_attributes_type',
          loc,
          msg: 'Input should be a valid dictionary or object to extract fields from',
          input: raw,
        },
      ],
    };
  }
  // Before anything copies its keys: Object.assign would take a `__proto__` key as the prototype.
  const forbidden = itemForbiddenKey(body, raw, loc);
  if (forbidden) return { ok: false, issues: [forbidden] };
  // Walked unless the body's own text proved it holds no NUL or lone surrogate (see isKnownStorable).
  const unstorable = textKnownStorable ? undefined : findUnstorableText(raw);
  if (unstorable) {
    return {
      ok: false,
      issues: [
        {
          type: 'string_unicode',
          loc: [...loc, ...unstorable],
          msg: 'Input should be a valid string, NUL characters and unpaired surrogates cannot be stored',
          input: null,
        },
      ],
    };
  }
  const { idempotency_key: rawKey, ...fields } = raw as Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  let idempotencyKey: string | null = null;
  if (rawKey !== undefined && rawKey !== null) {
    if (typeof rawKey !== 'string') {
      issues.push({
        type: 'string_type',
        loc: [...loc, 'idempotency_key'],
        msg: 'Input should be a valid string',
        input: rawKey,
      });
    } else {
      try {
        idempotencyKey = parseIdempotencyKey(rawKey, [...loc, 'idempotency_key']);
      } catch (e) {
        issues.push(...((e as { detail: ValidationIssue[] }).detail ?? []));
      }
    }
  }
  const instance = Object.assign(Object.create(ConversionBodyDto.prototype as object) as object, fields);
  if (fastCheck?.(instance)) {
    if (issues.length) return { ok: false, issues };
    return { ok: true, command: toConversionCommand(fields as ConversionBodyDto), idempotencyKey };
  }
  return validate(instance, { validationError: { target: false, value: true } }).then(
    (errors): InvalidConversionItem | ValidConversionItem => {
      for (const e of errors) e.target = raw;
      issues.push(...toIssues(errors, where, path));
      if (issues.length) return { ok: false, issues };
      return { ok: true, command: toConversionCommand(fields as ConversionBodyDto), idempotencyKey };
    },
  );
}
