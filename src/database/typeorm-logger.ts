import { Logger as NestLogger } from '@nestjs/common';
import type { Logger as TypeOrmLogger } from 'typeorm';

/**
 * TypeORM's messages through Nest's logger (JSON lines in production), without query parameters:
 * they carry conversion bodies and key hashes, which the logs must never hold. A failed query is
 * logged as its error and the statement's first line only.
 */
export class QuietTypeOrmLogger implements TypeOrmLogger {
  private readonly logger = new NestLogger('Database');

  logQuery(): void {
    /* never: one line per query would drown the request log */
  }

  logQueryError(error: string | Error, query: string): void {
    const msg = typeof error === 'string' ? error : error.message;
    this.logger.warn(`Query failed: ${msg} [${firstLine(query)}]`);
  }

  logQuerySlow(time: number, query: string): void {
    this.logger.warn(`Slow query (${time} ms): ${firstLine(query)}`);
  }

  logSchemaBuild(): void {}

  logMigration(message: string): void {
    this.logger.log(message);
  }

  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger.warn(String(message));
    else this.logger.log(String(message));
  }
}

function firstLine(query: string): string {
  const line = query.trim().split('\n')[0];
  return line.length > 120 ? `${line.slice(0, 120)}…` : line;
}
