import { Module } from '@nestjs/common';
import { ApiKeysRepository } from './api-keys.repository';
import { AuthService } from './auth.service';
import { MetricsTokenGuard } from './metrics-token.guard';

@Module({
  providers: [ApiKeysRepository, AuthService, MetricsTokenGuard],
  exports: [AuthService, MetricsTokenGuard],
})
export class AuthModule {}
