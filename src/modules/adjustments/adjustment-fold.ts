import type { AdjustmentType, ConversionStatus } from './conversion-adjustment.entity';

/*
 * A conversion's net state is a fold of its adjustments in `adjusted_at` order (ties: in the order
 * they were recorded), from the value as sent: a restatement sets the total, a refund takes its
 * amount off, a retraction means the conversion no longer counts (whenever it is dated: nothing is
 * applied after it, and its net value is 0). Refunds commute, so concurrent refunds add up
 * whatever order they arrive in; a refund or restatement dated before a recorded restatement is
 * decided by that later restatement (`more_recent_adjustment`: recorded, total unchanged).
 *
 * Money is exact: micro-units (6 decimals, the column's scale) in a bigint, never a float.
 */

const SCALE = 6;
const UNIT = 10n ** BigInt(SCALE);

/** A canonical decimal (`-12.5`, `99.990000`: PostgreSQL's numeric text, or SQLite's stored text) as micro-units. */
export function toMicros(decimal: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(decimal.trim());
  if (!m) throw new Error(`not a decimal: ${decimal}`);
  const frac = (m[3] ?? '').padEnd(SCALE, '0');
  if (frac.length > SCALE && /[1-9]/.test(frac.slice(SCALE)))
    throw new Error(`more than ${SCALE} decimals: ${decimal}`);
  const v = BigInt(m[2]) * UNIT + BigInt(frac.slice(0, SCALE));
  return m[1] === '-' ? -v : v;
}

/** Micro-units as the canonical decimal the API speaks (no trailing zeros). */
export function fromMicros(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  const int = a / UNIT;
  const frac = (a % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

export interface FoldEntry {
  type: AdjustmentType;
  /** restate: the new total; refund: the amount off; retract: null. */
  value: bigint | null;
  adjustedAtMs: number;
  /** Recording order (ties of adjustedAtMs). */
  seq: number;
}

export interface FoldResult {
  /** The net value (0 once retracted). */
  value: bigint;
  status: ConversionStatus;
  /** Some refund took the running value below zero. */
  negative: boolean;
}

export function fold(original: bigint, entries: readonly FoldEntry[]): FoldResult {
  const ordered = [...entries].sort((a, b) => a.adjustedAtMs - b.adjustedAtMs || a.seq - b.seq);
  let value = original;
  let negative = false;
  let retracted = false;
  for (const e of ordered) {
    if (e.type === 'retract') retracted = true;
    else if (e.type === 'restate') value = e.value!;
    else {
      value -= e.value!;
      if (value < 0n) negative = true;
    }
  }
  return retracted ? { value: 0n, status: 'retracted', negative } : { value, status: 'active', negative };
}

/**
 * Whether `entry` changes nothing because a restatement dated after it is already recorded (a
 * retraction always applies).
 */
export function isSuperseded(entry: FoldEntry, recorded: readonly FoldEntry[]): boolean {
  if (entry.type === 'retract') return false;
  return recorded.some((r) => r.type === 'restate' && r.adjustedAtMs > entry.adjustedAtMs);
}
