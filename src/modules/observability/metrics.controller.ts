import { Controller, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AppError } from '../../common/errors';
import { ApiErrors } from '../../common/openapi';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { Public } from '../auth/auth.decorators';
import { AuthService, safeEqual } from '../auth/auth.service';
import { MetricsService } from './metrics.service';

const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;

@ApiTags('operations')
@ApiBearerAuth()
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly auth: AuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  @Get()
  @Public()
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
  @ApiErrors('missing_token', 'invalid_api_key', 'forbidden')
  async getMetrics(
    @Headers('authorization') authorization: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const m = BEARER.exec(authorization ?? '');
    if (!m) throw new AppError('missing_token', 'Missing bearer token', { 'WWW-Authenticate': 'Bearer' });
    const token = this.config.metricsToken;
    if (!(token && safeEqual(m[1], token))) {
      const principal = await this.auth.authenticate(m[1]);
      if (principal.role !== 'support' && principal.role !== 'admin')
        throw new AppError('forbidden', 'This API key may not call this endpoint');
    }
    const body = await this.metrics.render();
    void reply.status(200).header('content-type', this.metrics.contentType).send(body);
  }
}
