import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { databaseUnavailable, isDatabaseUnavailable } from './db-errors';
import { AppError, STATUS_BY_CODE } from './errors';

interface ReplyLike {
  header(name: string, value: string): unknown;
}

/**
 * One filter maps every error to the contract's shape, `{"detail": ...}`, through the HTTP adapter.
 * Unknown errors are logged with the request id and answered as a plain 500 that leaks nothing.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Exceptions');
  /** During an outage every request fails alike: one warning per interval, with a count. */
  private unavailableWarnedAt = 0;
  private unavailableSuppressed = 0;

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const { httpAdapter } = this.adapterHost;
    const ctx = host.switchToHttp();
    const reply = ctx.getResponse<ReplyLike>();
    const { status, body, headers } = toResponse(exception);
    // Left on the request for the metrics hook, which labels failed conversions by kind.
    const request = ctx.getRequest<Record<symbol, string>>();
    if (request) request[ERROR_KIND] = errorKind(exception);
    if (isDataException(exception)) {
      // A value the validation let through and PostgreSQL refused: the client's fault, and a gap to close.
      const req = ctx.getRequest<{ method?: string; url?: string }>();
      // Only the code and the route: the database's message may quote the value, which is the client's data.
      this.logger.warn(
        `Database refused a value (SQLSTATE ${sqlStateOf(exception)}) on ${req?.method} ${req?.url?.split('?')[0]}, answered 422`,
      );
    } else if (status === 503 && !(exception instanceof AppError)) {
      // The database is down or too slow: nothing was acknowledged, the client retries.
      const now = Date.now();
      if (now - this.unavailableWarnedAt >= 5000) {
        const more = this.unavailableSuppressed ? ` (and ${this.unavailableSuppressed} more in the last interval)` : '';
        this.logger.warn(`Database unavailable, answered 503: ${(exception as Error)?.message ?? exception}${more}`);
        this.unavailableWarnedAt = now;
        this.unavailableSuppressed = 0;
      } else {
        this.unavailableSuppressed++;
      }
    } else if (status >= 500 && !(exception instanceof AppError)) {
      const req = ctx.getRequest<{ id?: string; method?: string; url?: string }>();
      // The path only: a query string may carry a signature or an id that does not belong in logs.
      const path = req?.url?.split('?', 1)[0];
      this.logger.error(
        `Unhandled error on ${req?.method} ${path} (request ${req?.id}): ${(exception as Error)?.stack ?? exception}`,
      );
    }
    for (const [k, v] of Object.entries(headers)) reply.header(k, v);
    httpAdapter.reply(reply, body, status);
  }
}

function sqlStateOf(e: unknown): string | undefined {
  const err = e as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = err?.code ?? err?.driverError?.code;
  return typeof code === 'string' ? code : undefined;
}

/** PostgreSQL's class 22 (data exception): a value it cannot take (bad text, date out of range, overflow). */
export function isDataException(e: unknown): boolean {
  if (!e || typeof e !== 'object' || e instanceof AppError || e instanceof HttpException) return false;
  const code = sqlStateOf(e);
  return code !== undefined && /^22[0-9A-Z]{3}$/.test(code);
}

/** The 422 for a data exception: never a 500, and nothing of the database's message leaks. */
export function dataExceptionError(): AppError {
  return AppError.validation([
    {
      type: 'value_error',
      loc: ['body'],
      msg: 'Value error, a value of the request cannot be stored',
      input: null,
      ctx: { error: 'a value of the request cannot be stored' },
    },
  ]);
}

/** Where the filter leaves the kind of a request's failure (see errorKind). */
export const ERROR_KIND = Symbol('errorKind');

/** A failure's kind, as a metric label: the domain code's kind, http_<status>, unavailable or internal. */
export function errorKind(e: unknown): string {
  if (e instanceof AppError) return e.kind;
  if (e instanceof HttpException) return `http_${e.getStatus()}`;
  if (isDataException(e)) return 'validation';
  if (isDatabaseUnavailable(e)) return 'unavailable';
  return 'internal';
}

export function toResponse(exception: unknown): {
  status: number;
  body: { detail: unknown };
  headers: Record<string, string>;
} {
  if (!(exception instanceof AppError) && !(exception instanceof HttpException) && isDatabaseUnavailable(exception)) {
    exception = databaseUnavailable();
  }
  if (isDataException(exception)) exception = dataExceptionError();
  if (exception instanceof AppError) {
    return { status: STATUS_BY_CODE[exception.code], body: { detail: exception.detail }, headers: exception.headers };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const res = exception.getResponse();
    let detail: unknown = exception.message;
    if (typeof res === 'string') detail = res;
    else if (res && typeof res === 'object' && 'message' in res) {
      const m = (res as { message: unknown }).message;
      detail = Array.isArray(m) ? m.join('; ') : m;
    }
    if (typeof detail === 'string' && /^Cannot (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /.test(detail))
      detail = 'Not Found';
    return { status, body: { detail }, headers: {} };
  }
  return { status: 500, body: { detail: 'Internal Server Error' }, headers: {} };
}
