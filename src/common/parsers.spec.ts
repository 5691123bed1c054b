import { findUnstorableText, parseCurrency, parseDateTime, parseNumberLike, toDecimalString } from './parsers';

describe('parsers', () => {
  describe('parseDateTime', () => {
    const iso = (v: unknown) => {
      const r = parseDateTime(v);
      return r.ok ? r.date.toISOString() : r.type;
    };
    it('reads offsets and Z, and takes no offset as UTC', () => {
      expect(iso('2026-05-26T12:34:56Z')).toBe('2026-05-26T12:34:56.000Z');
      expect(iso('2026-05-26T14:34:56+02:00')).toBe('2026-05-26T12:34:56.000Z');
      expect(iso('2026-05-26T07:34:56-0500')).toBe('2026-05-26T12:34:56.000Z');
      expect(iso('2026-05-26T12:34:56')).toBe('2026-05-26T12:34:56.000Z');
      expect(iso('2026-05-26 12:34:56.123456')).toBe('2026-05-26T12:34:56.123Z');
      expect(iso('2026-05-26')).toBe('2026-05-26T00:00:00.000Z');
    });
    it('reads Unix seconds and milliseconds, as Pydantic does', () => {
      expect(iso(1779798896)).toBe('2026-05-26T12:34:56.000Z');
      expect(iso(1779798896000)).toBe('2026-05-26T12:34:56.000Z');
    });
    it('refuses impossible dates and non-dates', () => {
      expect(iso('2026-02-29T00:00:00Z')).toBe('datetime_from_date_parsing');
      expect(iso('2024-02-29T00:00:00Z')).toBe('2024-02-29T00:00:00.000Z');
      expect(iso('2026-13-01')).toBe('datetime_from_date_parsing');
      expect(iso('2026-05-26T24:00:00Z')).toBe('datetime_from_date_parsing');
      expect(iso('2026-05-26T12:00:00+25:00')).toBe('datetime_from_date_parsing');
      expect(iso('tomorrow')).toBe('datetime_from_date_parsing');
      expect(iso(true)).toBe('datetime_type');
      expect(iso(null)).toBe('datetime_type');
    });
  });

  describe('money', () => {
    it('accepts numbers and numeric strings, not booleans or words', () => {
      expect(parseNumberLike(99.99)).toBe(99.99);
      expect(parseNumberLike(' 1e3 ')).toBe(1000);
      expect(parseNumberLike('-.5')).toBe(-0.5);
      expect(parseNumberLike(true)).toBeUndefined();
      expect(parseNumberLike('12,5')).toBeUndefined();
      expect(Number.isNaN(parseNumberLike('nan'))).toBe(true);
      expect(parseNumberLike('-Infinity')).toBeNaN();
    });
    it('formats a canonical decimal with at most 6 places', () => {
      expect(toDecimalString(99.99)).toBe('99.99');
      expect(toDecimalString(0.1 + 0.2)).toBe('0.3');
      expect(toDecimalString(100)).toBe('100');
      expect(toDecimalString(1e-7)).toBe('0');
      expect(toDecimalString(-0.0000001)).toBe('0');
      expect(toDecimalString(12345678901234.5)).toBe('12345678901234.5');
    });
  });

  it('parseCurrency knows ISO 4217 codes, case-insensitively', () => {
    expect(parseCurrency('usd')).toBe('USD');
    expect(parseCurrency('EUR')).toBe('EUR');
    expect(parseCurrency('ABC')).toBeUndefined();
    expect(parseCurrency('US')).toBeUndefined();
    expect(parseCurrency(840)).toBeUndefined();
  });

  it('findUnstorableText finds NUL and lone surrogates in values and keys, with their path', () => {
    expect(findUnstorableText({ a: 'ok', b: ['x', { c: 'bad\u0000' }] })).toEqual(['b', 1, 'c']);
    expect(findUnstorableText({ ['k\ud800']: 1 })).toEqual(['k\ud800']);
    expect(findUnstorableText({ a: '\udc00' })).toEqual(['a']);
    expect(findUnstorableText({ a: '😀 fine', b: 'é' })).toBeUndefined();
  });
});
