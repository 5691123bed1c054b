'use strict';
/*
 * The adversarial corpus: inputs an attacker sends to make one request expensive (backtracking,
 * deep nesting, huge collections) or to make the database refuse a value (NUL, invalid UTF-8,
 * times out of range). Shared by test/adversarial.e2e.spec.ts (in process, event-loop delay) and
 * `npm run bench` (worst time per route, out of process). Every body stays within the 64 KiB limit
 * unless its name says otherwise.
 */

const b64 = (s) => Buffer.from(s, 'utf8').toString('base64url');

/** Values put in one field of a body, a query parameter or a header (strings) at a time. */
const STRINGS = {
  digits20k_letter: '1'.repeat(20000) + 'a',
  digits65: '1'.repeat(65),
  dots10k: '1.'.repeat(10000),
  exponent_run: '1e' + '1'.repeat(20000) + 'x',
  spaces_then_letter: ' '.repeat(20000) + '1 x',
  signs: '-'.repeat(20000),
  long_date: '2026-05-26T12:34:56.' + '1'.repeat(20000) + 'Z',
  date_then_spaces: '2026-05-26' + ' '.repeat(20000) + 'x',
  numeric_date: '9'.repeat(30000),
  year_0_after_offset: '0001-01-01T00:00:00+01:00',
  year_10000_after_offset: '9999-12-31T23:59:59-01:00',
  nul: 'a\u0000b',
  lone_surrogate: 'a\ud800b',
  emoji_256: '\u{1F600}'.repeat(256),
  long_cursor: 'A'.repeat(30000),
  cursor_year_0: b64('0000-01-01T00:00:00.000Z|x'),
  cursor_year_10000: b64('+10000-01-01T00:00:00.000Z|x'),
  duration_like: '1' + ' '.repeat(20000) + 'msx',
  currency_like: 'USD'.repeat(10000),
  url_like: 'https://' + 'a.'.repeat(1000) + '/' + '%'.repeat(10000),
};

/** JSON values (not strings), as JSON text, put in one field of a body. */
const VALUES = {
  nested_4400: '['.repeat(4400) + ']'.repeat(4400),
  array_30k: '[' + Array(30000).fill('1').join(',') + ']',
  objects_2000: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000),
  big_number: '1e308',
};

/** A JSON object body: `base` plus one field whose value is the JSON text `valueText`. */
function bodyWith(base, field, valueText) {
  const prefix = JSON.stringify(base).slice(0, -1);
  return `${prefix}${prefix.length > 1 ? ',' : ''}${JSON.stringify(field)}:${valueText}}`;
}

/** Whole raw bodies (the Content-Type is application/json unless said). */
function rawBodies(base) {
  const prefix = JSON.stringify(base).slice(0, -1);
  const sep = prefix.length > 1 ? ',' : '';
  const keys = (n) => Array.from({ length: n }, (_, i) => `"${i.toString(36)}":0`).join(',');
  return {
    nested_arrays_4400: Buffer.from(`${prefix}${sep}"x":${'['.repeat(4400)}${']'.repeat(4400)}}`),
    nested_arrays_5000: Buffer.from(`${prefix}${sep}"x":${'['.repeat(5000)}${']'.repeat(5000)}}`),
    nested_arrays_30000: Buffer.from(`${prefix}${sep}"x":${'['.repeat(30000)}${']'.repeat(30000)}}`),
    nested_objects_3000: Buffer.from(`${prefix}${sep}${'"a":{'.repeat(3000)}${'}'.repeat(3000)}}`),
    keys_7000: Buffer.from(`${prefix}${sep}${keys(7000)}}`),
    keys_10000_over_limit: Buffer.from(`${prefix}${sep}${keys(10000)}}`),
    items_30000: Buffer.from(`${prefix}${sep}"x":[${Array(30000).fill('1').join(',')}]}`),
    truncated_utf8: Buffer.concat([
      Buffer.from(`${prefix}${sep}"order_id":"a`),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('"}'),
    ]),
    stray_ff: Buffer.concat([Buffer.from(`${prefix}${sep}"order_id":"a`), Buffer.from([0xff]), Buffer.from('"}')]),
    nul_escape: Buffer.from(`${prefix}${sep}"order_id":"a\\u0000b"}`),
  };
}

module.exports = { STRINGS, VALUES, rawBodies, bodyWith };
