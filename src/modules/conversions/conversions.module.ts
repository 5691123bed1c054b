import { Module } from '@nestjs/common';
import { AdjustmentsModule } from '../adjustments/adjustments.module';
import { ClicksModule } from '../clicks/clicks.module';
import { DedupModule } from '../dedup/dedup.module';
import { PartnersModule } from '../partners/partners.module';
import { WebhookOutboxModule } from '../webhook-outbox/webhook-outbox.module';
import { ConversionBatchController } from './conversion-batch.controller';
import { ConversionBatchService } from './conversion-batch.service';
import { ConversionReadsController } from './conversion-reads.controller';
import { ConversionReadsRepository } from './conversion-reads.repository';
import { ConversionReadsService } from './conversion-reads.service';
import { ConversionsController } from './conversions.controller';
import { ConversionsRepository } from './conversions.repository';
import { ConversionsService } from './conversions.service';

@Module({
  imports: [ClicksModule, DedupModule, PartnersModule, AdjustmentsModule, WebhookOutboxModule],
  controllers: [ConversionsController, ConversionBatchController, ConversionReadsController],
  providers: [
    ConversionsRepository,
    ConversionsService,
    ConversionBatchService,
    ConversionReadsRepository,
    ConversionReadsService,
  ],
  exports: [ConversionsService, ConversionReadsService],
})
export class ConversionsModule {}
