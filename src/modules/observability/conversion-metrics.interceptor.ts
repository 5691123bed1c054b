import { applyDecorators, CallHandler, ExecutionContext, HttpException, Injectable, NestInterceptor, SetMetadata, UseInterceptors } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { catchError, Observable, tap, throwError } from 'rxjs';
import { isDatabaseUnavailable } from '../../common/db-errors';
import { AppError } from '../../common/errors';
import { MetricsService } from './metrics.service';

const SOURCE_KEY = 'metrics:conversion-source';

/** The error kind a conversion failed with, as a metric label. */
export function conversionErrorKind(e: unknown): string {
  if (e instanceof AppError) return e.code;
  if (e instanceof HttpException) return `http_${e.getStatus()}`;
  if (isDatabaseUnavailable(e)) return 'unavailable';
  return 'internal';
}

@Injectable()
export class ConversionMetricsInterceptor implements NestInterceptor {
  constructor(
    private readonly metrics: MetricsService,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const source = this.reflector.get<string>(SOURCE_KEY, context.getHandler()) ?? 'unknown';
    return next.handle().pipe(
      tap((r) => {
        const res = r as { status?: string; matched_on?: string } | undefined;
        this.metrics.conversion(res?.status ?? 'unknown', source, res?.matched_on);
      }),
      catchError((e: unknown) => {
        this.metrics.conversion(conversionErrorKind(e), source);
        return throwError(() => e);
      }),
    );
  }
}

/**
 * Counts a conversion route's outcomes (ok, duplicate, each error kind after authentication) in
 * `conversions_total{outcome,source}` and duplicates in `dedup_matches_total{layer}`.
 * Authentication and body-parsing failures happen before and show in `http_requests_total`.
 */
export const CountConversions = (source: string) => applyDecorators(SetMetadata(SOURCE_KEY, source), UseInterceptors(ConversionMetricsInterceptor));
