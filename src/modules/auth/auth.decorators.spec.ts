import 'reflect-metadata';
import { Controller, Get } from '@nestjs/common';
import { AdminReadsController } from '../admin/admin-reads.controller';
import { AdminController } from '../admin/admin.controller';
import { ClicksController } from '../clicks/clicks.controller';
import { ConversionReadsController } from '../conversions/conversion-reads.controller';
import { ConversionsController } from '../conversions/conversions.controller';
import { HealthProbesController } from '../health/health-probes.controller';
import { HealthController } from '../health/health.controller';
import { MetricsController } from '../observability/metrics.controller';
import { TagController } from '../tag/tag.controller';
import { Authenticated, partnerOf, PUBLIC_KEY, ROLES_KEY } from './auth.decorators';

const SECURITY = 'swagger/apiSecurity';
const RESPONSES = 'swagger/apiResponse';

type Responses = Record<string, { content: { 'application/json': { schema: { example: { detail: string } } } } }>;
const example = (r: Responses, status: number) => r[status]?.content['application/json'].schema.example.detail;

describe('@Authenticated(...roles)', () => {
  @Controller('x')
  class Sample {
    @Get()
    @Authenticated('partner')
    getSample(): void {}
  }

  it("sets the roles, the bearer scheme and the guard's 401 and 403 bodies in one decorator", () => {
    const handler = Sample.prototype.getSample;
    expect(Reflect.getMetadata(ROLES_KEY, handler)).toEqual(['partner']);
    expect(Reflect.getMetadata(SECURITY, handler)).toEqual([{ bearer: [] }]);
    const responses = Reflect.getMetadata(RESPONSES, handler) as Responses;
    expect(Object.keys(responses).sort()).toEqual(['401', '403']);
    expect(example(responses, 401)).toBe('Missing bearer token');
    expect(example(responses, 403)).toBe('This API key may not call this endpoint');
  });
});

describe('every route', () => {
  const controllers = [
    AdminController,
    AdminReadsController,
    ClicksController,
    ConversionsController,
    ConversionReadsController,
    HealthController,
    HealthProbesController,
    MetricsController,
    TagController,
  ];
  const handlers = controllers.flatMap((c) => {
    const proto = c.prototype as unknown as Record<string, Function>;
    return Object.getOwnPropertyNames(proto)
      .filter((name) => name !== 'constructor' && Reflect.getMetadata('path', proto[name]) !== undefined)
      .map((name) => [`${c.name}.${name}`, c as Function, proto[name]] as const);
  });

  it('has a unique handler name (the operation id)', () => {
    const names = handlers.map(([n]) => n.split('.')[1]);
    expect(names.length).toBeGreaterThan(25);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(handlers)('%s is either @Public() or @Authenticated(...) with the bearer scheme', (_name, cls, handler) => {
    const isPublic = Reflect.getMetadata(PUBLIC_KEY, handler) ?? Reflect.getMetadata(PUBLIC_KEY, cls);
    const roles = Reflect.getMetadata(ROLES_KEY, handler) ?? Reflect.getMetadata(ROLES_KEY, cls);
    const security = Reflect.getMetadata(SECURITY, handler) ?? Reflect.getMetadata(SECURITY, cls);
    if (isPublic) {
      expect(roles).toBeUndefined();
      // Only the metrics route documents a bearer scheme of its own (its guard reads the token).
      if (cls === MetricsController) expect(security).toEqual([{ bearer: [] }]);
      else expect(security).toBeUndefined();
    } else {
      expect(roles).toEqual([expect.any(String)]);
      expect(security).toEqual([{ bearer: [] }]);
    }
  });
});

describe('partnerOf (what @CurrentPartner() returns)', () => {
  it("is the partner key's partner", () => {
    expect(partnerOf({ keyId: 'k', role: 'partner', partnerId: 'p1', mode: 'live' })).toBe('p1');
  });

  it('throws (a wiring bug) on a principal without a partner, never returning an empty id', () => {
    expect(() => partnerOf({ keyId: 'k', role: 'admin', partnerId: null, mode: 'live' })).toThrow(
      /@Authenticated\('partner'\)/,
    );
    expect(() => partnerOf(undefined)).toThrow();
  });
});
