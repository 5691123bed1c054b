import { performance } from 'node:perf_hooks';
import { parseDuration } from '../config/duration';
import {
  codePointLength,
  findUnstorableText,
  invalidUtf8Offset,
  jsonNestingBeyond,
  parseCurrency,
  parseDateTime,
  parseNumberLike,
} from './parsers';
import { decodeCursor } from './query';
import { compileFastCheck, lengthWithin, Str } from './validation';
import { validateSync } from 'class-validator';

/** Milliseconds one call takes (the best of three, so a busy machine does not decide). */
function cost(fn: () => unknown): number {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

describe('parsers run in linear time and bound their input first (issue 10)', () => {
  const attacks = [
    '1'.repeat(20000) + 'a',
    '1.'.repeat(10000),
    ' '.repeat(20000) + '1 x',
    '1e' + '1'.repeat(20000) + 'x',
    '2026-05-26T12:34:56.' + '1'.repeat(20000) + 'Z',
    '9'.repeat(30000),
  ];

  it.each(attacks.map((a) => [a.slice(0, 12), a]))('%s…: every parser answers in under 5 ms', (_, a) => {
    expect(cost(() => parseNumberLike(a))).toBeLessThan(5);
    expect(cost(() => parseDateTime(a))).toBeLessThan(5);
    expect(cost(() => parseCurrency(a))).toBeLessThan(5);
    expect(cost(() => parseDuration(a))).toBeLessThan(5);
    const refused = (fn: () => unknown) => () => {
      try {
        fn();
      } catch {
        return;
      }
      throw new Error('accepted');
    };
    expect(cost(refused(() => decodeCursor(a)))).toBeLessThan(5);
  });

  it('a number longer than 64 characters is not a number; 64 characters are', () => {
    expect(parseNumberLike('0'.repeat(62) + '1.5')).toBeUndefined();
    expect(parseNumberLike('0'.repeat(61) + '1.5')).toBe(1.5);
    expect(parseNumberLike(' 1e3 ')).toBe(1000);
    expect(parseNumberLike('1.')).toBe(1);
    expect(parseNumberLike('.')).toBeUndefined();
    expect(parseNumberLike('1.2.3')).toBeUndefined();
  });

  it('a datetime is checked after its offset: the UTC instant lies in years 0001..9999', () => {
    const at = (v: unknown) => {
      const r = parseDateTime(v);
      return r.ok ? r.date.toISOString() : r.type;
    };
    expect(at('0001-01-01T00:00:00+01:00')).toBe('datetime_from_date_parsing');
    expect(at('9999-12-31T23:59:59-01:00')).toBe('datetime_from_date_parsing');
    expect(at('0001-01-01T01:00:00+01:00')).toBe('0001-01-01T00:00:00.000Z');
    expect(at('9999-12-31T23:59:59.999Z')).toBe('9999-12-31T23:59:59.999Z');
    expect(at(253402300800000)).toBe('datetime_parsing');
    expect(at(-62135596801000)).toBe('datetime_parsing');
    expect(at(253402300799999)).toBe('9999-12-31T23:59:59.999Z');
    expect(at('2026-05-26T12:34:56' + ' '.repeat(60))).toBe('datetime_from_date_parsing');
  });

  it('a cursor naming a year outside 0001..9999 is refused', () => {
    const c = (s: string) => Buffer.from(s).toString('base64url');
    expect(() => decodeCursor(c('0000-01-01T00:00:00.000Z|x'))).toThrow();
    expect(decodeCursor(c('0001-01-01T00:00:00.000Z|x'))).toEqual({
      at: new Date('0001-01-01T00:00:00.000Z'),
      id: 'x',
    });
  });

  it('parseDuration still reads its forms', () => {
    expect(parseDuration(' 7d ')).toBe(7 * 86_400_000);
    expect(parseDuration('250 ms')).toBe(250);
    expect(parseDuration('1.5')).toBe(1500);
    expect(parseDuration('1' + ' '.repeat(40) + 's')).toBeUndefined();
  });
});

describe('unstorable text and nesting (issue 10)', () => {
  it('walks 100,000 levels without recursion and names the path of a find', () => {
    let deep: unknown = ['bad\u0000'];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnstorableText({ a: deep })?.length).toBe(100_002);
    expect(findUnstorableText({ a: 'ok', b: ['x', { c: 'bad\u0000' }] })).toEqual(['b', 1, 'c']);
    expect(findUnstorableText({ a: 'fine', ['k\ud800']: 1 })).toEqual(['k\ud800']);
    expect(findUnstorableText('a\u0000')).toEqual([]);
  });

  it('finds where JSON text nests deeper than 32 levels, strings skipped', () => {
    expect(jsonNestingBeyond('{"a":' + '['.repeat(31) + ']'.repeat(31) + '}')).toBe(-1);
    expect(jsonNestingBeyond('{"a":' + '['.repeat(32) + ']'.repeat(32) + '}')).toBe(5 + 31);
    expect(jsonNestingBeyond('{"a":"' + '['.repeat(100) + '\\"[["}')).toBe(-1);
  });

  it('finds the first byte that is not UTF-8', () => {
    expect(invalidUtf8Offset(Buffer.from('ok € 😀 é'))).toBe(-1);
    expect(invalidUtf8Offset(Buffer.from([0x61, 0xe2, 0x82]))).toBe(1);
    expect(invalidUtf8Offset(Buffer.from([0x61, 0x62, 0xff]))).toBe(2);
    expect(invalidUtf8Offset(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0);
    expect(invalidUtf8Offset(Buffer.from([0xc0, 0xaf]))).toBe(0);
    expect(invalidUtf8Offset(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe(0);
  });
});

describe('string lengths count code points (issue 10)', () => {
  class Dto {
    @Str({ max: 255, min: 2 })
    s: string;
  }
  const fast = compileFastCheck(Dto)!;
  const slowOk = (s: string) => validateSync(Object.assign(new Dto(), { s })).length === 0;

  it.each([
    ['255 emoji', '😀'.repeat(255), true],
    ['256 emoji', '😀'.repeat(256), false],
    ['255 ascii', 'a'.repeat(255), true],
    ['256 ascii', 'a'.repeat(256), false],
    ['1 emoji (under the minimum)', '😀', false],
    ['2 emoji', '😀😀', true],
    ['254 emoji + 1 ascii', '😀'.repeat(254) + 'a', true],
  ])('%s: the fast path and class-validator agree', (_, s, ok) => {
    expect(slowOk(s)).toBe(ok);
    expect(fast(Object.assign(new Dto(), { s }))).toBe(ok);
  });

  it('counts a lone surrogate as one code point', () => {
    expect(codePointLength('😀a\ud800')).toBe(3);
    expect(lengthWithin('\ud800\ud800', 2, 2)).toBe(true);
  });
});
