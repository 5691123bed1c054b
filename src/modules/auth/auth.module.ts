import { Module } from '@nestjs/common';
import { ApiKeysRepository } from './api-keys.repository';
import { AuthService } from './auth.service';

@Module({
  providers: [ApiKeysRepository, AuthService],
  exports: [AuthService],
})
export class AuthModule {}
