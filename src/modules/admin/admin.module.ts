import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { PartnersModule } from '../partners/partners.module';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';

@Module({
  imports: [AuthModule, PartnersModule],
  controllers: [AdminController],
  providers: [AdminService],
})
export class AdminModule {}
