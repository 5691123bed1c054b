import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { BODY_LIMIT, registerJsonBodyParser } from './common/json-body';
import { setupSwagger } from './common/openapi';

/** The Fastify adapter every instance of the service runs on (main, tests, the OpenAPI script). */
export function createFastifyAdapter(): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    trustProxy: true,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
  });
}

/** Nest's own body parsers stay off: JSON is parsed by ours, and every other content type is a 415. */
export const NEST_APP_OPTIONS = { bodyParser: false } as const;

/** Everything configured on the app before init: body parsing and the docs. */
export function configureApp(app: NestFastifyApplication): NestFastifyApplication {
  registerJsonBodyParser(app);
  setupSwagger(app);
  app.enableShutdownHooks();
  return app;
}
