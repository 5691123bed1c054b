import { Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CommonModule } from './common/common.module';
import { AppExceptionFilter } from './common/exception.filter';
import { AppValidationPipe } from './common/validation';
import { APP_CONFIG, AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { buildDataSourceOptions } from './database/data-source-options';
import { openAndMigrate } from './database/migrate-with-lock';
import { TransactionModule } from './database/transaction-scope';
import { AdjustmentsModule } from './modules/adjustments/adjustments.module';
import { AdminModule } from './modules/admin/admin.module';
import { AttemptsModule } from './modules/attempts/attempts.module';
import { ApiKeyGuard } from './modules/auth/api-key.guard';
import { AuthModule } from './modules/auth/auth.module';
import { ClicksModule } from './modules/clicks/clicks.module';
import { ConsoleModule } from './modules/console/console.module';
import { ConversionsModule } from './modules/conversions/conversions.module';
import { DiagnosticsModule } from './modules/diagnostics/diagnostics.module';
import { HealthModule } from './modules/health/health.module';
import { ObservabilityModule } from './modules/observability/observability.module';
import { ApiKeyThrottlerGuard } from './modules/rate-limit/api-key-throttler.guard';
import { RateLimitModule } from './modules/rate-limit/rate-limit.module';
import { SandboxModule } from './modules/sandbox/sandbox.module';
import { TagModule } from './modules/tag/tag.module';
import { WebhooksModule } from './modules/webhooks/webhooks.module';

@Module({
  imports: [
    ConfigModule,
    CommonModule,
    TypeOrmModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => buildDataSourceOptions(config),
      // Migrations run at boot, before any provider touches a table; on PostgreSQL under an
      // advisory lock, so replicas starting together do not race (see migrate-with-lock.ts).
      dataSourceFactory: (options) => openAndMigrate(options!),
    }),
    TransactionModule,
    AuthModule,
    ClicksModule,
    ConversionsModule,
    AdjustmentsModule,
    AdminModule,
    HealthModule,
    ObservabilityModule,
    RateLimitModule,
    TagModule,
    AttemptsModule,
    DiagnosticsModule,
    ConsoleModule,
    SandboxModule,
    WebhooksModule,
  ],
  providers: [
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    // After the ApiKeyGuard: limits are per API key.
    { provide: APP_GUARD, useClass: ApiKeyThrottlerGuard },
    { provide: APP_PIPE, useClass: AppValidationPipe },
    { provide: APP_FILTER, useClass: AppExceptionFilter },
  ],
})
export class AppModule {}
