import { isKnownStorable, parseJsonBody } from './json-body';
import { validateConversionItem } from '../modules/conversions/conversion-item.validation';

const item = (extra: string) =>
  `{"click_id":"c1","conversion_time":"2026-05-26T12:34:56Z","conversion_value":1,"currency":"USD"${extra}}`;

describe('parseJsonBody: bodies of item-checked routes proven free of unstorable text', () => {
  it('marks a body whose text has no \\u escape and no surrogate (its items need no walk)', () => {
    const body = parseJsonBody(`{"conversions":[${item('')},${item(',"note":"café ✓"')}]}`, false);
    expect(isKnownStorable(body)).toBe(true);
  });

  it.each([
    ['a NUL escape in a value', ',"order_id":"a\\u0000"'],
    ['a lone surrogate escape in a key', ',"k\\ud800":"x"'],
    ['any \\u escape, even a harmless one', ',"order_id":"\\u0041"'],
    ['a raw surrogate pair (emoji)', ',"note":"😀"'],
  ])('does not mark a body with %s', (_, extra) => {
    expect(isKnownStorable(parseJsonBody(`{"conversions":[${item(extra)}]}`, false))).toBe(false);
  });

  it('marks nothing on routes whose whole body is checked by the parser, nor non-objects', () => {
    expect(isKnownStorable(parseJsonBody(`{"conversions":[${item('')}]}`))).toBe(false);
    expect(isKnownStorable(parseJsonBody('"text"', false))).toBe(false);
    expect(isKnownStorable(undefined)).toBe(false);
  });

  it('an item of an unmarked body is still refused for unstorable text', async () => {
    const body = parseJsonBody(`{"conversions":[${item(',"order_id":"a\\u0000"')}]}`, false) as {
      conversions: unknown[];
    };
    const checked = await validateConversionItem(
      body.conversions[0],
      ['body', 'conversions', 0],
      isKnownStorable(body),
    );
    expect(checked).toMatchObject({
      ok: false,
      issues: [{ type: 'string_unicode', loc: ['body', 'conversions', 0, 'order_id'] }],
    });
  });
});
