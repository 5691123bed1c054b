import { validate } from 'class-validator';
import { ValidationIssue } from '../../common/errors';
import { itemForbiddenKey } from '../../common/json-body';
import { findUnstorableText, parseDateTime, parseNumberLike, toDecimalString } from '../../common/parsers';
import { compileFastCheck, declaredFields, toIssues } from '../../common/validation';
import { AdjustmentItemDto } from './adjustment.dto';
import { toMicros } from './adjustment-fold';
import type { AdjustmentType } from './conversion-adjustment.entity';

export const DEFAULT_EVENT_TYPE = 'purchase_completed';

/** An adjustment as the apply step takes it: built once from a valid item. */
export interface AdjustmentCommand {
  /** Exactly one of the two names the conversion. */
  conversion_id: string | null;
  order: { order_id: string; event_type: string } | null;
  type: AdjustmentType;
  /** restate: the new total; refund: the amount off (canonical decimal); retract: null. */
  value: string | null;
  adjusted_at: Date;
  adjustment_id: string | null;
}

export type CheckedAdjustment = { ok: true; command: AdjustmentCommand } | { ok: false; issues: ValidationIssue[] };

const fastCheck = compileFastCheck(AdjustmentItemDto);
const FIELDS = declaredFields(AdjustmentItemDto);
/** The value field each type takes (and no other type may send). */
const VALUE_FIELD: Record<AdjustmentType, 'adjusted_value' | 'refund_value' | null> = {
  retract: null,
  restate: 'adjusted_value',
  refund: 'refund_value',
};

/**
 * One item of POST /api/conversion/adjustments, checked against AdjustmentItemDto with the house's
 * Pydantic issues (every `loc` under `loc`, `["body","adjustments",i]`), then the rules across
 * fields: one of conversion_id / order_id, the value field of its type (and no other), a refund
 * above 0, a restatement at 0 or above. Unknown keys are refused (nothing of an adjustment is kept
 * beyond its fields). `whole`: the parsed body, for json-body's itemForbiddenKey.
 */
export async function validateAdjustmentItem(
  raw: unknown,
  loc: (string | number)[],
  whole?: unknown,
): Promise<CheckedAdjustment> {
  const [where, ...path] = loc as ['body', ...(string | number)[]];
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const msg = 'Input should be a valid dictionary or object to extract fields from';
    return { ok: false, issues: [{ type: 'model_attributes_type', loc, msg, input: raw }] };
  }
  // A forbidden prototype key refuses this item alone (see json-body's itemForbiddenKey).
  const forbidden = itemForbiddenKey(whole, raw, loc);
  if (forbidden) return { ok: false, issues: [forbidden] };
  const unstorable = findUnstorableText(raw);
  if (unstorable) {
    const msg = 'Input should be a valid string, NUL characters and unpaired surrogates cannot be stored';
    return { ok: false, issues: [{ type: 'string_unicode', loc: [...loc, ...unstorable], msg, input: null }] };
  }
  const body = raw as Record<string, unknown>;
  const issues: ValidationIssue[] = [];
  for (const [k, v] of Object.entries(body)) {
    if (!FIELDS.has(k))
      issues.push({ type: 'extra_forbidden', loc: [...loc, k], msg: 'Extra inputs are not permitted', input: v });
  }
  const instance = Object.assign(Object.create(AdjustmentItemDto.prototype as object) as object, body);
  if (!fastCheck?.(instance)) {
    const errors = await validate(instance, { validationError: { target: false, value: true } });
    for (const e of errors) e.target = raw;
    issues.push(...toIssues(errors, where, path));
  }
  if (issues.length) return { ok: false, issues };
  const dto = body as unknown as AdjustmentItemDto;
  const has = (k: keyof AdjustmentItemDto) => dto[k] !== undefined && dto[k] !== null;
  if (has('conversion_id') === has('order_id')) {
    issues.push(
      has('conversion_id')
        ? {
            type: 'value_error',
            loc: [...loc, 'order_id'],
            msg: 'Value error, send conversion_id or order_id, not both',
            input: dto.order_id,
            ctx: { error: 'send conversion_id or order_id, not both' },
          }
        : {
            type: 'missing',
            loc: [...loc, 'conversion_id'],
            msg: 'Field required: conversion_id or order_id',
            input: raw,
          },
    );
  }
  if (has('event_type') && !has('order_id')) {
    issues.push({
      type: 'extra_forbidden',
      loc: [...loc, 'event_type'],
      msg: 'Extra inputs are not permitted: event_type goes with order_id',
      input: dto.event_type,
    });
  }
  const wanted = VALUE_FIELD[dto.type];
  for (const f of ['adjusted_value', 'refund_value'] as const) {
    if (f !== wanted && has(f)) {
      issues.push({
        type: 'extra_forbidden',
        loc: [...loc, f],
        msg: `Extra inputs are not permitted on a ${dto.type} adjustment`,
        input: dto[f],
      });
    }
  }
  let value: string | null = null;
  if (wanted) {
    if (!has(wanted)) {
      issues.push({ type: 'missing', loc: [...loc, wanted], msg: 'Field required', input: raw });
    } else {
      value = toDecimalString(parseNumberLike(dto[wanted])!);
      const micros = toMicros(value);
      if (wanted === 'refund_value' && micros <= 0n) {
        issues.push({
          type: 'greater_than',
          loc: [...loc, wanted],
          msg: 'Input should be greater than 0',
          input: dto[wanted],
          ctx: { gt: 0 },
        });
      } else if (micros < 0n) {
        issues.push({
          type: 'greater_than_equal',
          loc: [...loc, wanted],
          msg: 'Input should be greater than or equal to 0',
          input: dto[wanted],
          ctx: { ge: 0 },
        });
      }
    }
  }
  if (issues.length) return { ok: false, issues };
  return {
    ok: true,
    command: {
      conversion_id: dto.conversion_id ?? null,
      order: has('order_id') ? { order_id: dto.order_id!, event_type: dto.event_type ?? DEFAULT_EVENT_TYPE } : null,
      type: dto.type,
      value,
      adjusted_at: (parseDateTime(dto.adjusted_at) as { date: Date }).date,
      adjustment_id: dto.adjustment_id ?? null,
    },
  };
}
