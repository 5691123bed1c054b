import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { MetricsAuthenticated } from '../auth/metrics-token.guard';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @MetricsAuthenticated()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format).',
    description:
      'Readable with a support or admin key, or with `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
  })
  @ApiProduces('text/plain')
  @ApiResponse({
    status: 200,
    description: 'Metrics in the Prometheus text format.',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  async getMetrics(@Res() reply: FastifyReply): Promise<void> {
    const body = await this.metrics.render();
    void reply.status(200).header('content-type', this.metrics.contentType).send(body);
  }
}
