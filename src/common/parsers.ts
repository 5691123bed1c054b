/**
 * Parsing rules shared by validation (is it valid?) and by the commands built from a valid body
 * (what does it mean?), so the two can never disagree.
 */

/** Largest magnitude a conversion value may have: the column is numeric(20,6). */
export const MAX_MONEY = 1e14;

/** A finite number, or a numeric string as Pydantic accepts; booleans are not numbers here. */
export function parseNumberLike(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
  if (typeof v === 'string' && /^\s*[+-]?(inf|infinity|nan)\s*$/i.test(v)) return Number.NaN;
  return undefined;
}

/** The canonical decimal string stored for a money value: at most 6 decimals, no exponent. */
export function toDecimalString(n: number): string {
  const fixed = n.toFixed(6);
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return trimmed === '-0' ? '0' : trimmed;
}

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T t](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

export type DateParse = { ok: true; date: Date } | { ok: false; type: string; msg: string; error?: string };

/**
 * ISO-8601 datetime as Pydantic reads it: an offset or Z; without one, UTC; a bare date is
 * midnight UTC; a number (or numeric string) is Unix time in seconds, or milliseconds when large.
 */
export function parseDateTime(v: unknown): DateParse {
  if (typeof v === 'number' || (typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v))) {
    const n = Number(v);
    if (!Number.isFinite(n)) return { ok: false, type: 'datetime_parsing', msg: 'Input should be a valid datetime' };
    const ms = Math.abs(n) > 2e10 ? n : n * 1000;
    const d = new Date(Math.round(ms));
    if (Number.isNaN(d.getTime()) || d.getUTCFullYear() > 9999 || d.getUTCFullYear() < 1) {
      return {
        ok: false,
        type: 'datetime_parsing',
        msg: 'Input should be a valid datetime, dates after 9999 are not supported as unix timestamps',
        error: 'dates after 9999 are not supported as unix timestamps',
      };
    }
    return { ok: true, date: d };
  }
  if (typeof v !== 'string') return { ok: false, type: 'datetime_type', msg: 'Input should be a valid datetime' };
  const m = ISO_RE.exec(v.trim());
  const bad = (error: string): DateParse => ({
    ok: false,
    type: 'datetime_from_date_parsing',
    msg: `Input should be a valid datetime or date, ${error}`,
    error,
  });
  if (!m) return bad('input is not a valid ISO-8601 datetime');
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', tz] = m;
  const year = +y,
    month = +mo,
    day = +d,
    hour = +h,
    minute = +mi,
    second = +s;
  if (month < 1 || month > 12) return bad('month value is outside expected range of 1-12');
  const dim = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || day < 1 || day > dim) return bad('day value is outside expected range');
  if (hour > 23 || minute > 59 || second > 59) return bad('time value is outside expected range');
  const ms = Number((frac + '000').slice(0, 3));
  let offsetMin = 0;
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz[0] === '-' ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    const oh = +digits.slice(0, 2),
      om = digits.length > 2 ? +digits.slice(2, 4) : 0;
    if (oh > 23 || om > 59) return bad('timezone offset is outside expected range');
    offsetMin = sign * (oh * 60 + om);
  }
  const utc = new Date(0);
  utc.setUTCFullYear(year, month - 1, day);
  utc.setUTCHours(hour, minute, second, ms);
  return { ok: true, date: new Date(utc.getTime() - offsetMin * 60_000) };
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** ISO 4217 code, case-insensitive; returns it upper-cased, or undefined when unknown. */
export function parseCurrency(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z]{3}$/.test(v)) return undefined;
  const code = v.toUpperCase();
  return CURRENCIES.has(code) ? code : undefined;
}

/** Text PostgreSQL cannot store: NUL, or a lone UTF-16 surrogate. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Finds the first string (value or key) PostgreSQL could not store; returns its path. */
export function findUnstorableText(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = findUnstorableText(value[i], [...path, i]);
      if (p) return p;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (UNSTORABLE.test(k)) return [...path, k];
      const p = findUnstorableText(v, [...path, k]);
      if (p) return p;
    }
  }
  return undefined;
}
