import { Inject, Injectable, OnModuleInit, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PinoLogger } from 'nestjs-pino';
import type { Logger } from 'pino';
import { parseBoolQuery } from '../../common/bool-query';
import { ERROR_KIND } from '../../common/exception.filter';
import { CONVERSION_REFUSALS, ConversionRefusalListener } from './conversion-refusals';
import { CONVERSION_SOURCE, CONVERSION_VALIDATE_ONLY, TEST_DATA } from './conversion-metrics';
import { MetricsService } from './metrics.service';

type RequestWithPrincipal = FastifyRequest & { principal?: { keyId?: string; mode?: string } };

/**
 * Per request, on Fastify's own hooks (cheap: no Nest middleware): echo the request id, write one
 * JSON log line, count and time the request. The line carries the request id, method, route
 * pattern, path (never the query string, which may carry a signature), status, latency and the
 * key id the guard established: never headers, secrets or bodies.
 */
@Injectable()
export class HttpObservability implements OnModuleInit {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly metrics: MetricsService,
    private readonly pino: PinoLogger,
    @Optional() @Inject(CONVERSION_REFUSALS) private readonly refusals?: ConversionRefusalListener,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapterHost.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify?.addHook) return;
    const log: Logger = this.pino.logger.child({ context: 'http' });
    const metrics = this.metrics;
    const refusals = this.refusals;
    fastify.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      void reply.header('x-request-id', request.id);
      done();
    });
    // Conversion outcomes, on the routes marked @CountConversions: the answer object before it is
    // serialised says ok/duplicate (and the layer); a failure's kind was left by the exception filter.
    fastify.addHook(
      'preSerialization',
      (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, p: unknown) => void) => {
        const config = request.routeOptions?.config as unknown as Record<string, unknown> | undefined;
        const source = config?.[CONVERSION_SOURCE] as string | undefined;
        if (source) {
          const res = payload as { status?: string; matched_on?: string } | null;
          const kind = (request as unknown as Record<symbol, string | undefined>)[ERROR_KIND];
          const outcome = reply.statusCode === 200 ? (res?.status ?? 'unknown') : (kind ?? `http_${reply.statusCode}`);
          if (
            (request as RequestWithPrincipal).principal?.mode === 'test' ||
            (reply as unknown as Record<symbol, unknown>)[TEST_DATA]
          )
            metrics.testConversion(outcome, source);
          else if (config?.[CONVERSION_VALIDATE_ONLY] && isValidateOnly(request))
            metrics.validateOnlyConversion(outcome, source);
          else metrics.conversion(outcome, source, reply.statusCode === 200 ? res?.matched_on : undefined);
          // The one place that knows a conversion was refused, and why: kept by the recorder (not 401s),
          // validate-only requests included.
          if (reply.statusCode !== 200) refusals?.onRefused(request, source, reply.statusCode, kind, payload);
        }
        done(null, payload);
      },
    );
    fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
      const route = request.routeOptions?.url ?? 'unmatched';
      const status = reply.statusCode;
      const ms = reply.elapsedTime;
      metrics.observeRequest(request.method, route, status, ms / 1000);
      // 503 is the database being away (counted, expected during an outage); other 5xx are bugs.
      const level = status === 503 ? 'warn' : status >= 500 ? 'error' : 'info';
      if (log.isLevelEnabled(level)) {
        const url = request.url;
        const q = url.indexOf('?');
        log[level](
          {
            req_id: request.id,
            method: request.method,
            route,
            path: q === -1 ? url : url.slice(0, q),
            status,
            ms: Math.round(ms * 10) / 10,
            key_id: (request as RequestWithPrincipal).principal?.keyId ?? null,
          },
          'request',
        );
      }
      done();
    });
  }
}

/** The request asked for `?validate_only=true` (a bad value counts as no: that request is a 422). */
function isValidateOnly(request: FastifyRequest): boolean {
  return parseBoolQuery((request.query as Record<string, unknown> | undefined)?.validate_only) === true;
}
