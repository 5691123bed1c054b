import 'reflect-metadata';
import fc from 'fast-check';
import { validate } from 'class-validator';
import { getMetadataStorage } from 'class-validator';
import * as adminDtos from '../modules/admin/admin.dto';
import * as auditDtos from '../modules/audit/audit.dto';
import * as clickDtos from '../modules/clicks/click.dto';
import { RegisterClickDto } from '../modules/clicks/click.dto';
import * as queryDtos from '../modules/conversions/conversion-query.dto';
import * as conversionDtos from '../modules/conversions/conversion.dto';
import { ConversionBodyDto } from '../modules/conversions/conversion.dto';
import * as tagDtos from '../modules/tag/tag.dto';
import { compileFastCheck, declaredFields } from './validation';

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
    '0',
    '50',
    ' 7 ',
    '-1',
    '501',
    '1e3',
    'partner',
    'api',
    'admin',
    ['https://a.example'],
    ['x'.repeat(256)],
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

/** A valid body (or query) for each DTO the pipe checks; random bodies mix these values with bad ones. */
const VALID: Record<string, Record<string, unknown>> = {
  ConversionBodyDto: validConversion,
  TagConversionBodyDto: { ...validConversion, sig: 'kAb12Cd3.c2ln', exp: 1782475200 },
  RegisterClickDto: {
    tag_id: 't',
    click_id: 'c',
    bid_id: 'b',
    clicked_at: '2026-05-26T12:34:56Z',
    landing_url: 'https://a.example/',
  },
  AttachBidDto: { bid_id: 'b' },
  ClickRedirectQueryDto: { tag_id: 't', bid_id: 'b', url: 'https://a.example/p' },
  CreatePartnerDto: { name: 'Acme' },
  RenamePartnerDto: { name: 'Acme' },
  CreateTagDto: { name: 'main', allowed_origins: ['https://a.example'] },
  UpdateTagDto: { name: 'main', allowed_origins: [] },
  CreateApiKeyDto: { role: 'partner', partner_id: 'p', name: 'backend' },
  RotateApiKeyDto: { grace_seconds: 60 },
  SetRateLimitDto: { rate_limit_per_minute: 100 },
  SetAttributionDto: { window_days: 30, policy: 'flag' },
  ListKeysQueryDto: { partner_id: 'p' },
  OwnConversionFiltersDto: {
    tag_id: 't',
    click_id: 'c',
    order_id: 'o',
    event_type: 'e',
    source: 'api',
    from: '2026-05-26T00:00:00Z',
    to: '2026-05-27T00:00:00Z',
  },
  ConversionFiltersDto: { partner_id: 'p', source: 'tag' },
  ListConversionsQueryDto: { partner_id: 'p', limit: '50', cursor: 'abc' },
  ListOwnConversionsQueryDto: { tag_id: 't', limit: '1', cursor: 'abc' },
  ListAuditQueryDto: {
    action: 'key.rotate',
    target_type: 'partner',
    target_id: 'x',
    actor_key_id: 'k',
    limit: '10',
    cursor: 'c',
  },
};

describe('compileFastCheck on every DTO', () => {
  const modules = [adminDtos, auditDtos, clickDtos, queryDtos, conversionDtos, tagDtos];
  const declared = new Set(modules.flatMap((m) => Object.values(m)).filter((v) => typeof v === 'function'));
  const storage = getMetadataStorage() as unknown as { validationMetadatas: Map<Function, unknown[]> };
  const compiled = [...storage.validationMetadatas.keys()].filter((dto) => declared.has(dto) && compileFastCheck(dto));

  it('has a valid example for every DTO that compiles a fast check', () => {
    expect(compiled.length).toBeGreaterThanOrEqual(Object.keys(VALID).length);
    expect(compiled.map((d) => d.name).sort()).toEqual(Object.keys(VALID).sort());
  });

  it.each(Object.keys(VALID))('agrees with class-validator on random %s bodies', async (name) => {
    const dto = compiled.find((d) => d.name === name)!;
    const check = compileFastCheck(dto)!;
    const base = VALID[name];
    expect(check(Object.assign(Object.create(dto.prototype as object) as object, base))).toBe(true);
    const fields = [...declaredFields(dto), 'extra_key'];
    await fc.assert(
      fc.asyncProperty(bodies(fields, base), async (body) => {
        const instance = Object.assign(Object.create(dto.prototype as object) as object, body);
        expect(check(instance)).toBe(await classValidatorAccepts(dto, body));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('the OpenAPI schema of every DTO field', () => {
  const modules = [adminDtos, auditDtos, clickDtos, queryDtos, conversionDtos, tagDtos];
  const dtos = modules.flatMap((m) => Object.values(m)).filter((v): v is Function => typeof v === 'function');
  type Meta = { propertyName: string; name?: string; type: string; context?: { ctx?: unknown } };
  const cases = dtos.flatMap((dto) => {
    const metas = getMetadataStorage().getTargetValidationMetadatas(dto, '', true, false) as unknown as Meta[];
    return [...new Set(metas.map((m) => m.propertyName))].map(
      (p) => [`${dto.name}.${p}`, dto, p, metas.filter((m) => m.propertyName === p)] as const,
    );
  });

  it.each(cases)('%s documents the limits its rules enforce', (_name, dto, property, metas) => {
    const doc = Reflect.getMetadata('swagger/apiModelProperties', dto.prototype as object, property) as Record<
      string,
      unknown
    >;
    expect(doc).toBeDefined();
    expect(doc.description).toEqual(expect.any(String));
    for (const m of metas) {
      const ctx = (typeof m.context?.ctx === 'object' ? m.context.ctx : {}) as Record<string, unknown>;
      if (m.type === 'conditionalValidation') expect(doc.required).toBe(false);
      switch (m.name) {
        case 'missing':
          expect(doc.required).not.toBe(false);
          break;
        case 'string_too_long':
          expect(doc.maxLength).toBe(ctx.max_length);
          break;
        case 'string_too_short':
          expect(doc.minLength).toBe(ctx.min_length);
          break;
        case 'too_long':
          expect(doc.maxItems).toBe(ctx.max_length);
          break;
        case 'greater_than_equal':
          expect(doc.minimum).toBe(ctx.ge);
          break;
        case 'less_than_equal':
          expect(doc.maximum).toBe(ctx.le);
          break;
        case 'less_than':
          expect((doc.oneOf as Record<string, unknown>[])[0]).toMatchObject({
            maximum: ctx.lt,
            exclusiveMaximum: true,
          });
          break;
        case 'enum':
          expect(doc.enum).toEqual(expect.any(Array));
          for (const v of doc.enum as string[]) expect(String(ctx.expected)).toContain(`'${v}'`);
          break;
        case 'datetime_type':
          expect(doc.format).toBe('date-time');
          break;
        case 'url_parsing':
          expect(doc.format).toBe('uri');
          break;
        case 'int_type':
        case 'int_parsing':
          expect(doc.type).toBe('integer');
          break;
        case 'string_type':
          expect([String, 'string']).toContain(doc.type);
          break;
      }
    }
  });
});
