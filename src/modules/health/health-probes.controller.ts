import { Controller, Get, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth.decorators';

const READY_EXAMPLE = {
  status: 'ok',
  info: { database: { status: 'up' }, migrations: { status: 'up', applied: 1, expected: 1 } },
  error: {},
  details: { database: { status: 'up' }, migrations: { status: 'up', applied: 1, expected: 1 } },
};

/** Liveness and readiness probes (@nestjs/terminus), beside the plain GET /health. */
@ApiTags('health')
@Controller('health')
export class HealthProbesController {
  constructor(
    @InjectDataSource() private readonly ds: DataSource,
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
  ) {}

  @Get('live')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process is up and its event loop answers (no dependency is checked).' })
  @ApiResponse({ status: 200, schema: { example: { status: 'ok', info: {}, error: {}, details: {} } } })
  async getLiveness(): Promise<unknown> {
    return this.health.check([]);
  }

  @Get('ready')
  @Public()
  @ApiOperation({
    summary: 'Readiness: the database answers within 1.5 s and every migration this build knows is applied.',
  })
  @ApiResponse({ status: 200, schema: { example: READY_EXAMPLE } })
  @ApiResponse({
    status: 503,
    description: 'Not ready; the body says which check failed. Carries Retry-After.',
    schema: {
      example: {
        status: 'error',
        info: {},
        error: { database: { status: 'down', message: 'timeout' } },
        details: { database: { status: 'down', message: 'timeout' } },
      },
    },
  })
  async getReadiness(@Res() reply: FastifyReply): Promise<void> {
    try {
      const result = await this.health.check([
        () => this.typeorm.pingCheck('database').withTimeout(1500),
        () =>
          this.indicators
            .check('migrations')
            .attempt(() => this.migrationsCurrent())
            .withTimeout(1500),
      ]);
      void reply.status(200).send(result);
    } catch (e) {
      const body = (e as { getResponse?: () => unknown }).getResponse?.() ?? { status: 'error' };
      void reply.status(503).header('Retry-After', '5').send(body);
    }
  }

  /** Throws when a migration of this build is not applied (the migration job has not run yet). */
  private async migrationsCurrent(): Promise<{ applied: number; expected: number }> {
    const table = this.ds.options.migrationsTableName ?? 'migrations';
    const rows: { name: string }[] = await this.ds.query(`SELECT name FROM ${table}`);
    const applied = new Set(rows.map((r) => r.name));
    const expected = this.ds.migrations.map((m) => m.name ?? m.constructor.name);
    const pending = expected.filter((n) => !applied.has(n));
    if (pending.length) throw new Error(`pending migrations: ${pending.join(', ')}`);
    return { applied: applied.size, expected: expected.length };
  }
}
