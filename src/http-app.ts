import type { FastifyReply } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { BODY_LIMIT, registerJsonBodyParser } from './common/json-body';
import { setupSwagger } from './common/openapi';

/** The Fastify adapter every instance of the service runs on (main, tests, the OpenAPI script). */
export function createFastifyAdapter(): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // Ids (click ids) may be 255 characters long; a longer path parameter is a 414.
    routerOptions: { maxParamLength: 255 },
    trustProxy: true,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Errors the router raises before Nest sees the request (bad URL encoding, a path parameter
    // over maxParamLength) get the contract's {"detail": ...} body too.
    frameworkErrors: (error: Error, _req: unknown, reply: FastifyReply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      void reply.status(status).send({ detail: status === 414 ? 'URI Too Long' : 'Bad Request' });
    },
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
