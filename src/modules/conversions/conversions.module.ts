import { Module } from '@nestjs/common';
import { ClicksModule } from '../clicks/clicks.module';
import { DedupModule } from '../dedup/dedup.module';
import { PartnersModule } from '../partners/partners.module';
import { ConversionReadsController } from './conversion-reads.controller';
import { ConversionReadsRepository } from './conversion-reads.repository';
import { ConversionReadsService } from './conversion-reads.service';
import { ConversionsController } from './conversions.controller';
import { ConversionsRepository } from './conversions.repository';
import { ConversionsService } from './conversions.service';

@Module({
  imports: [ClicksModule, DedupModule, PartnersModule],
  controllers: [ConversionsController, ConversionReadsController],
  providers: [ConversionsRepository, ConversionsService, ConversionReadsRepository, ConversionReadsService],
  exports: [ConversionsService, ConversionReadsService],
})
export class ConversionsModule {}
