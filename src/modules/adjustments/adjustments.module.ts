import { Module } from '@nestjs/common';
import { WebhookOutboxModule } from '../webhook-outbox/webhook-outbox.module';
import { AdjustmentEvents } from './adjustment-events';
import { AdjustmentsController } from './adjustments.controller';
import { AdjustmentsRepository } from './adjustments.repository';
import { AdjustmentsService } from './adjustments.service';

/**
 * Adjustments of recorded conversions (issue 13): retractions, restatements, refunds. Owns the
 * conversion_adjustments table and the conversions' net-state columns; exports its service (the
 * history the read views show) and AdjustmentEvents (the in-transaction hook of the outbox).
 */
@Module({
  imports: [WebhookOutboxModule],
  controllers: [AdjustmentsController],
  providers: [AdjustmentsRepository, AdjustmentsService, AdjustmentEvents],
  exports: [AdjustmentsService, AdjustmentEvents],
})
export class AdjustmentsModule {}
