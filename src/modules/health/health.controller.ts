import { Controller, Get, Res } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth.decorators';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(@InjectDataSource() private readonly ds: DataSource) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'Whether the service can serve: 200 once the database answers, 503 otherwise.' })
  @ApiResponse({ status: 200, schema: { example: { status: 'ok' } } })
  @ApiResponse({ status: 503, schema: { example: { status: 'unavailable', detail: 'database unreachable' } } })
  async getHealth(@Res() reply: FastifyReply): Promise<void> {
    try {
      await Promise.race([
        this.ds.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref()),
      ]);
      void reply.status(200).send({ status: 'ok' });
    } catch {
      void reply.status(503).header('Retry-After', '5').send({ status: 'unavailable', detail: 'database unreachable' });
    }
  }
}
