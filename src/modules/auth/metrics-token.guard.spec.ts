import type { ExecutionContext } from '@nestjs/common';
import { AppError } from '../../common/errors';
import type { AppConfig } from '../../config/app-config';
import type { AuthService } from './auth.service';
import { MetricsTokenGuard } from './metrics-token.guard';
import type { Principal } from './principal';

const TOKEN = 'metrics-token-0123456789';

/** A mock that fails on any call it was not given. */
function strict<T extends object>(impl: Partial<T>): T {
  return new Proxy(impl, {
    get: (target, prop) => {
      if (prop in target) return target[prop as keyof typeof target];
      if (prop === 'then') return undefined;
      throw new Error(`unexpected call: ${String(prop)}`);
    },
  }) as T;
}

function context(authorization?: string): ExecutionContext {
  const req = { headers: authorization === undefined ? {} : { authorization } };
  return { switchToHttp: () => ({ getRequest: () => req }) } as unknown as ExecutionContext;
}

function guard(
  authenticate?: (key: string) => Promise<Principal>,
  config: Partial<AppConfig> = { metricsToken: TOKEN },
) {
  const auth = strict<AuthService>(authenticate ? { authenticate } : {});
  return new MetricsTokenGuard(auth, strict<AppConfig>(config));
}

const principal = (role: Principal['role']): Principal => ({
  keyId: 'k',
  role,
  partnerId: role === 'partner' ? 'p' : null,
  mode: 'live',
});

describe('MetricsTokenGuard', () => {
  it('answers 401 missing_token without a bearer header, reading no key', async () => {
    for (const header of [undefined, '', 'Basic abc', 'Bearer ']) {
      const err = await guard()
        .canActivate(context(header))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'missing_token', headers: { 'WWW-Authenticate': 'Bearer' } });
    }
  });

  it('lets METRICS_TOKEN through without looking a key up', async () => {
    await expect(guard().canActivate(context(`Bearer ${TOKEN}`))).resolves.toBe(true);
  });

  it('lets support and admin keys through, and answers 403 for any other role', async () => {
    for (const role of ['support', 'admin'] as const) {
      await expect(guard(async () => principal(role)).canActivate(context('Bearer key'))).resolves.toBe(true);
    }
    for (const role of ['partner', 'ingest'] as const) {
      await expect(guard(async () => principal(role)).canActivate(context('Bearer key'))).rejects.toMatchObject({
        code: 'forbidden',
      });
    }
  });

  it("checks the header as a key when METRICS_TOKEN is unset or does not match, with the key's 401", async () => {
    const seen: string[] = [];
    const authenticate = async (key: string): Promise<Principal> => {
      seen.push(key);
      throw new AppError('invalid_api_key');
    };
    await expect(guard(authenticate).canActivate(context('Bearer wrong-token'))).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
    await expect(
      guard(authenticate, { metricsToken: undefined }).canActivate(context(`Bearer ${TOKEN}`)),
    ).rejects.toMatchObject({
      code: 'invalid_api_key',
    });
    expect(seen).toEqual(['wrong-token', TOKEN]);
  });
});
