/*
 * Attribution-time checks (issue 12), written once. After the click and bid checks, a conversion's
 * time is checked against its click's clicked_at (read by the write statement itself: no extra
 * round trip) and the server's clock. The statement computes the verdict from two bounds computed
 * here (clicked_at compared with them: no date arithmetic in SQL, the same on both drivers) and the
 * clock's verdict; under the `reject` policy a failing conversion is neither claimed nor written.
 */
import { MAX_INSTANT_MS, MIN_INSTANT_MS } from '../../common/parsers';
import type { AttributionPolicy } from '../partners/partner.entity';

export type AttributionStatus = 'ok' | 'precedes_click' | 'outside_window' | 'future';
export const ATTRIBUTION_STATUSES: readonly AttributionStatus[] = ['ok', 'precedes_click', 'outside_window', 'future'];

/** A conversion more than this before its click is `precedes_click` (clock skew allowance). */
export const PRECEDES_TOLERANCE_MS = 5 * 60_000;
/** A conversion more than this ahead of the server's clock is `future`. */
export const FUTURE_TOLERANCE_MS = 10 * 60_000;
const DAY_MS = 86_400_000;

/** A partner's attribution settings as the write path uses them. */
export interface AttributionSettings {
  windowMs: number;
  policy: AttributionPolicy;
}

/** The per-conversion inputs of the statement's verdict. */
export interface AttributionTiming {
  /** precedes_click when clicked_at is later than this (conversion_time + 5 min). */
  precedesAfter: Date;
  /** outside_window when clicked_at is earlier than this (conversion_time - window). */
  windowBefore: Date;
  /** The verdict when the click checks pass: `future` or `ok` (the clock's check needs no click). */
  base: 'ok' | 'future';
  policy: AttributionPolicy;
}

export function attributionTiming(conversionTime: Date, now: Date, s: AttributionSettings): AttributionTiming {
  const t = conversionTime.getTime();
  // Kept inside the instants the stores hold (a conversion at 9999-12-31 or 0001-01-01 is valid):
  // a click can never lie beyond them, so a clamped bound decides exactly as the exact one would.
  return {
    precedesAfter: new Date(Math.min(t + PRECEDES_TOLERANCE_MS, MAX_INSTANT_MS)),
    windowBefore: new Date(Math.max(t - s.windowMs, MIN_INSTANT_MS)),
    base: t > now.getTime() + FUTURE_TOLERANCE_MS ? 'future' : 'ok',
    policy: s.policy,
  };
}

/** The statement parameters of the verdict (added to the write's inputs, named, never counted). */
export const ATTRIBUTION_TIME_PARAMS = [
  { name: 'attr_precedes_after', pgType: 'timestamptz', value: (t: AttributionTiming) => t.precedesAfter },
  { name: 'attr_window_before', pgType: 'timestamptz', value: (t: AttributionTiming) => t.windowBefore },
  { name: 'attr_base', pgType: 'varchar', value: (t: AttributionTiming) => t.base },
  { name: 'attr_policy', pgType: 'varchar', value: (t: AttributionTiming) => t.policy },
] as const;

/**
 * SQL: the verdict, from the click's clicked_at (an SQL expression) and the parameters named by
 * `input`. The click-time checks come first, in the order the issue lists them.
 */
export function attributionStatusSql(clickedAt: string, input: (name: string) => string): string {
  return `CASE WHEN ${clickedAt} > ${input('attr_precedes_after')} THEN 'precedes_click'
    WHEN ${clickedAt} < ${input('attr_window_before')} THEN 'outside_window'
    ELSE ${input('attr_base')} END`;
}

/** JavaScript: the same as attributionStatusSql, for a click read without the write (validate-only). */
export function attributionStatusOf(clickedAt: Date, t: AttributionTiming): AttributionStatus {
  if (clickedAt.getTime() > t.precedesAfter.getTime()) return 'precedes_click';
  if (clickedAt.getTime() < t.windowBefore.getTime()) return 'outside_window';
  return t.base;
}

/** SQL: true unless the `reject` policy refuses the verdict `status` (an SQL expression). */
export function attributionAcceptedSql(status: string, input: (name: string) => string): string {
  return `(${status} = 'ok' OR ${input('attr_policy')} <> 'reject')`;
}

/** JavaScript: the same as attributionAcceptedSql. */
export function isRefusedByPolicy(status: AttributionStatus | null, policy: AttributionPolicy): boolean {
  return policy === 'reject' && status !== null && status !== 'ok';
}

const MESSAGES: Record<Exclude<AttributionStatus, 'ok'>, string> = {
  precedes_click: 'conversion_time is more than 5 minutes before the click',
  outside_window: "conversion_time is later than the partner's attribution window after the click",
  future: "conversion_time is more than 10 minutes ahead of the server's clock",
};

export interface AttributionWarning {
  code: Exclude<AttributionStatus, 'ok'>;
  msg: string;
  clicked_at: string;
}

export function attributionWarning(status: Exclude<AttributionStatus, 'ok'>, clickedAt: Date): AttributionWarning {
  return { code: status, msg: MESSAGES[status], clicked_at: clickedAt.toISOString() };
}

/** The 422 item of the `reject` policy (loc ["body","conversion_time"], Pydantic's value_error). */
export function attributionRejection(
  status: Exclude<AttributionStatus, 'ok'>,
  clickedAt: Date,
  conversionTime: Date,
  windowMs: number,
) {
  return {
    type: 'value_error',
    loc: ['body', 'conversion_time'],
    msg: `Value error, ${MESSAGES[status]}`,
    input: conversionTime.toISOString(),
    ctx: {
      error: MESSAGES[status],
      rule: status,
      clicked_at: clickedAt.toISOString(),
      window_days: windowMs / DAY_MS,
    },
  };
}

export function windowMsOf(days: number | null, defaultMs: number): number {
  return days === null ? defaultMs : days * DAY_MS;
}
