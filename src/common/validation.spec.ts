import 'reflect-metadata';
import fc from 'fast-check';
import { validate } from 'class-validator';
import { RegisterClickDto } from '../modules/clicks/click.dto';
import { ConversionBodyDto } from '../modules/conversions/conversion.dto';
import { compileFastCheck } from './validation';

/*
 * The pipe's fast check must accept exactly the bodies class-validator accepts (a body it rejects
 * then goes through class-validator, which writes the 422). Checked on random bodies mixing valid
 * and invalid values for every field.
 */
const anyValue = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 5 }),
  fc.constantFrom(
    '',
    'USD',
    'usd',
    'XXX',
    'US',
    '99.99',
    'abc',
    'https://a.example/x',
    'not a url',
    '2026-05-26T12:34:56Z',
    '2026-13-40',
    'x'.repeat(256),
    'x'.repeat(2049),
  ),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
);

const validConversion = {
  click_id: 'clk_1',
  conversion_time: '2026-05-26T12:34:56Z',
  conversion_value: 99.99,
  currency: 'USD',
};

function bodies(fields: string[], base: Record<string, unknown>) {
  return fc.record(Object.fromEntries(fields.map((f) => [f, fc.oneof(fc.constant(base[f]), anyValue)])), {
    requiredKeys: [],
  });
}

async function classValidatorAccepts(dto: Function, body: object): Promise<boolean> {
  const instance = Object.assign(Object.create(dto.prototype as object) as object, body);
  return (await validate(instance, { validationError: { target: false, value: true } })).length === 0;
}

describe('compileFastCheck', () => {
  it.each([
    ['ConversionBodyDto', ConversionBodyDto, validConversion],
    [
      'RegisterClickDto',
      RegisterClickDto,
      {
        tag_id: 't',
        click_id: 'c',
        bid_id: 'b',
        clicked_at: '2026-05-26T12:34:56Z',
        landing_url: 'https://a.example/',
      },
    ],
  ] as const)('agrees with class-validator on random %s bodies', async (_name, dto, base) => {
    const check = compileFastCheck(dto);
    expect(check).not.toBeNull();
    const fields = [
      ...Object.keys(base),
      'event_type',
      'order_id',
      'event_id',
      'tag_id',
      'page_url',
      'referrer',
      'user_agent',
      'session_id',
      'client_id',
      'extra_key',
    ];
    await fc.assert(
      fc.asyncProperty(bodies(fields, base as Record<string, unknown>), async (body) => {
        const instance = Object.assign(Object.create(dto.prototype as object) as object, body);
        expect(check!(instance)).toBe(await classValidatorAccepts(dto, body));
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts the seed example and rejects a missing field', () => {
    const check = compileFastCheck(ConversionBodyDto)!;
    const inst = (b: object) => Object.assign(Object.create(ConversionBodyDto.prototype as object) as object, b);
    expect(check(inst({ ...validConversion, order_id: 'order_123', event_type: 'purchase_completed' }))).toBe(true);
    expect(check(inst({ ...validConversion, currency: undefined }))).toBe(false);
  });
});
