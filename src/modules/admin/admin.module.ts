import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { ConversionsModule } from '../conversions/conversions.module';
import { PartnersModule } from '../partners/partners.module';
import { AdminReadsController } from './admin-reads.controller';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';

@Module({
  imports: [AuthModule, PartnersModule, ConversionsModule, AuditModule],
  controllers: [AdminController, AdminReadsController],
  providers: [AdminService],
})
export class AdminModule {}
