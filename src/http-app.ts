import type { FastifyReply } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { BODY_LIMIT, registerJsonBodyParser } from './common/json-body';
import { setupSwagger } from './common/openapi';
import type { AppConfig } from './config/app-config';

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The Fastify adapter every instance of the service runs on (main, tests, the OpenAPI script).
 * X-Forwarded-For is believed only from the proxies TRUST_PROXY names (none by default): the
 * client address feeds the per-address rate limits, and a client can write any header it likes.
 */
export function createFastifyAdapter(options: { trustProxy?: AppConfig['trustProxy'] } = {}): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: BODY_LIMIT,
    // Ids (click ids) may be 255 characters long; a longer path parameter is a 414.
    routerOptions: { maxParamLength: 255 },
    trustProxy: trustProxyOption(options.trustProxy ?? false),
    // X-Request-Id is honoured when it is 1..128 printable ASCII characters (so it cannot bloat or
    // garble the logs); otherwise a fresh UUID. Every answer echoes it (observability module).
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const h = req.headers['x-request-id'];
      return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
    },
    // Errors the router raises before Nest sees the request (bad URL encoding, a path parameter
    // over maxParamLength) get the contract's {"detail": ...} body too.
    frameworkErrors: (error: Error, _req: unknown, reply: FastifyReply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      void reply.status(status).send({ detail: status === 414 ? 'URI Too Long' : 'Bad Request' });
    },
    clientErrorHandler,
  });
}

/** How long a refused connection may keep sending (its input is read and dropped) before it is cut. */
const CLIENT_ERROR_LINGER_MS = 2000;

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (a head over the 16 KiB limit: 431;
 * a request timeout: 408; anything malformed: 400). Fastify's own handler answers in its shape and
 * destroys the socket at once, with the rest of the request possibly unread, and closing a socket
 * with unread input resets the connection (TCP RST), which can destroy the answer under the
 * client. Here: the contract's `{"detail": …}` body with `Connection: close`, then a half-close,
 * and whatever the client still sends is read and dropped until it closes or the linger ends.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({ detail: STATUS_CODES[status] });
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.on('error', () => socket.destroy());
  socket.resume();
  setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS).unref();
}

/** Fastify's form of TRUST_PROXY: a hop count becomes "trust the n nearest hops", as Fastify itself does. */
function trustProxyOption(
  t: AppConfig['trustProxy'],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  return typeof t === 'number' ? (_address: string, hop: number) => hop < t : t;
}

/** Nest's own body parsers stay off: JSON is parsed by ours, and every other content type is a 415. */
export const NEST_APP_OPTIONS = { bodyParser: false } as const;

/** Everything configured on the app before init: body parsing and the docs. */
export function configureApp(app: NestFastifyApplication): NestFastifyApplication {
  registerJsonBodyParser(app);
  setupSwagger(app);
  // On SIGTERM/SIGINT: Fastify stops accepting and lets in-flight requests finish, providers shut
  // down (the database pool closes), then exit code 0 (the bound is set in main.ts).
  app.enableShutdownHooks([], { useProcessExit: true });
  return app;
}
