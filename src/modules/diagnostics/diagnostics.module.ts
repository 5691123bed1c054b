import { Module } from '@nestjs/common';
import { AdjustmentsModule } from '../adjustments/adjustments.module';
import { ClicksModule } from '../clicks/clicks.module';
import { DedupModule } from '../dedup/dedup.module';
import { DiagnosticsAdminController, DiagnosticsController } from './diagnostics.controller';
import { DiagnosticsRepository } from './diagnostics.repository';
import { DiagnosticsService } from './diagnostics.service';

/** "Why didn't my sale count?": explain a click or an order, daily outcomes and alerts. Reads only. */
@Module({
  imports: [ClicksModule, DedupModule, AdjustmentsModule],
  controllers: [DiagnosticsController, DiagnosticsAdminController],
  providers: [DiagnosticsRepository, DiagnosticsService],
})
export class DiagnosticsModule {}
