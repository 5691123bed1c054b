import { applyDecorators, CanActivate, ExecutionContext, Inject, Injectable, UseGuards } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { AppError } from '../../common/errors';
import { ApiErrors } from '../../common/openapi';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { bearerToken } from './api-key.guard';
import { Public } from './auth.decorators';
import { AuthService, safeEqual } from './auth.service';

/**
 * The metrics route's guard (the route is @Public() to the global guard): a scraper's
 * `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set, or a support or admin key.
 * 401 and 403 as the global guard answers them.
 */
@Injectable()
export class MetricsTokenGuard implements CanActivate {
  constructor(
    private readonly auth: AuthService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; ip?: string }>();
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new AppError('missing_token');
    const metricsToken = this.config.metricsToken;
    if (metricsToken && safeEqual(token, metricsToken)) return true;
    const principal = await this.auth.authenticate(token, req.ip);
    if (principal.role !== 'support' && principal.role !== 'admin') throw new AppError('forbidden');
    return true;
  }
}

/** The metrics route: past the global guard (@Public), through MetricsTokenGuard, documented alike. */
export const MetricsAuthenticated = () =>
  applyDecorators(
    Public(),
    UseGuards(MetricsTokenGuard),
    ApiBearerAuth(),
    ApiErrors('missing_token', 'invalid_api_key', 'forbidden'),
  );
