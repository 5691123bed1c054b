/**
 * Parsing rules shared by validation (is it valid?) and by the commands built from a valid body
 * (what does it mean?), so the two can never disagree.
 */

/** Largest magnitude a conversion value may have: the column is numeric(20,6). */
export const MAX_MONEY = 1e14;

/**
 * Longest numeric string read (a number, a Unix time, an integer query parameter): anything longer
 * is refused before any pattern runs, so no parser's cost depends on what an attacker sends.
 */
export const MAX_NUMBER_LENGTH = 64;

// Deterministic: after the integer digits only `.`, `e` or the end may follow, so nothing backtracks.
const NUMBER_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE_RE = /^[+-]?(?:inf|infinity|nan)$/i;

/** A finite number, or a numeric string as Pydantic accepts; booleans are not numbers here. */
export function parseNumberLike(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string' || v.length > MAX_NUMBER_LENGTH) return undefined;
  const s = v.trim();
  if (NUMBER_RE.test(s)) return Number(s);
  if (NON_FINITE_RE.test(s)) return Number.NaN;
  return undefined;
}

/** The canonical decimal string stored for a money value: at most 6 decimals, no exponent. */
export function toDecimalString(n: number): string {
  const fixed = n.toFixed(6);
  const trimmed = fixed.includes('.') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
  return trimmed === '-0' ? '0' : trimmed;
}

/** The instants both databases store and sort correctly: years 0001 to 9999, in UTC. */
export const MIN_INSTANT_MS = Date.parse('0001-01-01T00:00:00.000Z');
export const MAX_INSTANT_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** Longest datetime text read: `YYYY-MM-DDTHH:MM:SS.fffffffff+HH:MM` is 35 characters. */
export const MAX_DATETIME_LENGTH = 64;

const UNIX_RE = /^-?\d+(?:\.\d+)?$/;
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T t](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?)?$/;

export type DateParse = { ok: true; date: Date } | { ok: false; type: string; msg: string; error?: string };

/**
 * ISO-8601 datetime as Pydantic reads it: an offset or Z; without one, UTC; a bare date is
 * midnight UTC; a number (or numeric string) is Unix time in seconds, or milliseconds when large.
 */
export function parseDateTime(v: unknown): DateParse {
  const text = typeof v === 'string' ? v.trim() : undefined;
  if (text !== undefined && (v as string).length > MAX_DATETIME_LENGTH) {
    return {
      ok: false,
      type: 'datetime_from_date_parsing',
      msg: 'Input should be a valid datetime or date, input is too long',
      error: 'input is too long',
    };
  }
  if (typeof v === 'number' || (text !== undefined && UNIX_RE.test(text))) {
    const n = Number(v);
    if (!Number.isFinite(n)) return { ok: false, type: 'datetime_parsing', msg: 'Input should be a valid datetime' };
    const ms = Math.round(Math.abs(n) > 2e10 ? n : n * 1000);
    if (!(ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS)) {
      return {
        ok: false,
        type: 'datetime_parsing',
        msg: 'Input should be a valid datetime, dates after 9999 are not supported as unix timestamps',
        error: 'dates after 9999 are not supported as unix timestamps',
      };
    }
    return { ok: true, date: new Date(ms) };
  }
  if (text === undefined) return { ok: false, type: 'datetime_type', msg: 'Input should be a valid datetime' };
  const m = ISO_RE.exec(text);
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
  // The offset can carry a valid local time out of the storable range (0001-01-01T00:00+01:00).
  const instant = utc.getTime() - offsetMin * 60_000;
  if (!(instant >= MIN_INSTANT_MS && instant <= MAX_INSTANT_MS)) {
    return bad('the UTC instant must lie between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z');
  }
  return { ok: true, date: new Date(instant) };
}

const CURRENCIES = new Set(Intl.supportedValuesOf('currency'));

/** ISO 4217 code, case-insensitive; returns it upper-cased, or undefined when unknown. */
export function parseCurrency(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.length !== 3 || !/^[A-Za-z]{3}$/.test(v)) return undefined;
  const code = v.toUpperCase();
  return CURRENCIES.has(code) ? code : undefined;
}

/** Text PostgreSQL cannot store: NUL, or a lone UTF-16 surrogate. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether one string holds text PostgreSQL could not store. */
export function isUnstorableText(s: string): boolean {
  return UNSTORABLE.test(s);
}

/** How deep JSON may nest (the body object is level 1): deeper is refused before anything walks it. */
export const MAX_JSON_DEPTH = 32;

type Frame = { value: unknown; key: string | number | undefined; parent: Frame | undefined; checkKey: boolean };

/**
 * Finds the first string (value or key) PostgreSQL could not store; returns its path. Walks with
 * an explicit stack (no recursion, so no depth overflows it) and builds a path only for a find.
 */
export function findUnstorableText(value: unknown): (string | number)[] | undefined {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? [] : undefined;
  const stack: Frame[] = [{ value, key: undefined, parent: undefined, checkKey: false }];
  while (stack.length) {
    const frame = stack.pop()!;
    if (frame.checkKey && UNSTORABLE.test(frame.key as string)) return pathOf(frame);
    const v = frame.value;
    if (typeof v === 'string') {
      if (UNSTORABLE.test(v)) return pathOf(frame);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const item: unknown = v[i];
        if (typeof item === 'string' || (item && typeof item === 'object'))
          stack.push({ value: item, key: i, parent: frame, checkKey: false });
      }
    } else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) {
        stack.push({ value: (v as Record<string, unknown>)[keys[i]], key: keys[i], parent: frame, checkKey: true });
      }
    }
  }
  return undefined;
}

function pathOf(frame: Frame): (string | number)[] {
  const path: (string | number)[] = [];
  for (let f: Frame | undefined = frame; f?.parent; f = f.parent) path.push(f.key!);
  return path.reverse();
}

/**
 * Where JSON text first nests deeper than `max` levels (the offset of the bracket), or -1. One pass
 * over the text, strings skipped, before the text is parsed.
 */
export function jsonNestingBeyond(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return i;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return -1;
}

/** Length in code points, as Python (and so Pydantic) counts it; a lone surrogate counts as one. */
export function codePointLength(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * Offset of the first byte that is not well-formed UTF-8 (overlong forms and surrogates included,
 * as a fatal TextDecoder refuses them), or -1.
 */
export function invalidUtf8Offset(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n + 1;
  }
  return -1;
}
