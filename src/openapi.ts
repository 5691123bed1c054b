import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { writeFileSync } from 'node:fs';
import { AppModule } from './app.module';
import { buildOpenApiDocument } from './common/openapi';
import { createFastifyAdapter, NEST_APP_OPTIONS } from './http-app';

/** Writes the OpenAPI document generated from the code: `node dist/src/openapi.js openapi.json`. */
async function main(): Promise<void> {
  const out = process.argv[2] ?? 'openapi.json';
  process.env.SQLITE_PATH = ':memory:';
  delete process.env.DATABASE_URL;
  process.env.BOOTSTRAP_ADMIN_KEY = 'openapi-generator-not-a-real-key';
  const app = await NestFactory.create<NestFastifyApplication>(AppModule, createFastifyAdapter(), {
    ...NEST_APP_OPTIONS,
    logger: false,
  });
  await app.init();
  writeFileSync(out, JSON.stringify(buildOpenApiDocument(app), null, 2) + '\n');
  await app.close();
}

void main();
