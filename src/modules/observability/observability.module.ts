import { Global, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { AuthModule } from '../auth/auth.module';
import { HttpObservability } from './http-observability';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { pinoOptions } from './pino-options';

/** Structured logs (pino through nestjs-pino), Prometheus metrics, the request id on every answer. */
@Global()
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [APP_CONFIG],
      // No pino-http middleware (forRoutes: []): the one line per request is written from a
      // Fastify hook (HttpObservability), which is cheaper and sees the route and the principal.
      useFactory: (config: AppConfig) => ({ pinoHttp: pinoOptions(config), forRoutes: [] }),
    }),
    AuthModule,
  ],
  controllers: [MetricsController],
  providers: [MetricsService, HttpObservability],
  exports: [MetricsService],
})
export class ObservabilityModule {}
