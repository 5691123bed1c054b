import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BODY_LIMIT, registerJsonBodyParser } from './common/json-body';
import { setupSwagger } from './common/openapi';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** The Fastify adapter every instance of the service runs on (main, tests, the OpenAPI script). */
export function createFastifyAdapter(): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    trustProxy: true,
    // X-Request-Id is honoured when it is 1..128 printable ASCII characters (so it cannot bloat or
    // garble the logs); otherwise a fresh UUID. Every answer echoes it (observability module).
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
  });
}

/** Everything configured on the app before init: body parsing and the docs. */
export function configureApp(app: NestFastifyApplication): NestFastifyApplication {
  registerJsonBodyParser(app);
  setupSwagger(app);
  // On SIGTERM/SIGINT: Fastify stops accepting and lets in-flight requests finish, providers shut
  // down (the database pool closes), then exit code 0 (the bound is set in main.ts).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
