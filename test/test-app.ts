import 'reflect-metadata';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppModule } from '../src/app.module';
import { Clock } from '../src/common/clock';
import { APP_CONFIG, AppConfig, loadConfig } from '../src/config/app-config';
import { configureApp, createFastifyAdapter, NEST_APP_OPTIONS } from '../src/http-app';
import { ApiClient, Fixture, makePartner } from './api-client';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmnop';

/** TEST_DATABASE_URL=postgres://… runs the suite against PostgreSQL; otherwise a fresh SQLite file per app. */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL || undefined;
export const onPostgres = !!TEST_DATABASE_URL;

export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  const dir = mkdtempSync(join(tmpdir(), 'thrad-test-'));
  return loadConfig({
    SQLITE_PATH: join(dir, 'test.sqlite'),
    DATABASE_URL: TEST_DATABASE_URL,
    BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'error',
    ...overrides,
  });
}

/** A clock tests can move. */
export class TestClock extends Clock {
  offsetMs = 0;
  fixed?: Date;
  now(): Date {
    return this.fixed ? new Date(this.fixed.getTime()) : new Date(Date.now() + this.offsetMs);
  }
}

export interface TestApp {
  app: NestFastifyApplication;
  clock: TestClock;
  config: AppConfig;
  close(): Promise<void>;
}

/** Boots the whole app on Fastify, as main.ts does, with its global guard, pipe and filter. */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const config = testConfig(env);
  const clock = new TestClock();
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
    .overrideProvider(APP_CONFIG)
    .useValue(config)
    .overrideProvider(Clock)
    .useValue(clock)
    .compile();
  moduleRef.useLogger(['error']);
  const app = configureApp(
    moduleRef.createNestApplication<NestFastifyApplication>(createFastifyAdapter({ trustProxy: config.trustProxy }), {
      ...NEST_APP_OPTIONS,
      logger: ['error'],
    }),
  );
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return { app, clock, config, close: () => app.close() };
}

export interface UsedTestApp {
  /** The booted app (filled in by beforeAll). */
  t: TestApp;
  /** A client of that app. */
  api: ApiClient;
  /** The first of `partners` (made through the admin API, each with a tag and keys). */
  partner: Fixture;
  partners: Fixture[];
}

/**
 * The setup every e2e spec shares, in one line at the top of its describe block: boots the app
 * (with `env`) in beforeAll, makes `partners` partners (one by default; `origins` for their tag),
 * and closes the app in afterAll. The objects it returns are filled in by beforeAll, so a spec
 * can destructure them at once: `const { t, api, partner: f } = useTestApp();`.
 */
export function useTestApp(
  opts: { env?: Record<string, string>; partners?: number; origins?: string[] } = {},
): UsedTestApp {
  const t = {} as TestApp;
  const api = new ApiClient(() => t.app);
  const partners = Array.from({ length: opts.partners ?? 1 }, () => ({}) as Fixture);
  beforeAll(async () => {
    Object.assign(t, await createTestApp(opts.env));
    for (const p of partners) Object.assign(p, await makePartner(api, undefined, opts.origins));
  });
  afterAll(async () => {
    await t.close?.();
  });
  return { t, api, partner: partners[0], partners };
}
