import { Module } from '@nestjs/common';
import { ClicksModule } from '../clicks/clicks.module';
import { DedupModule } from '../dedup/dedup.module';
import { PartnersModule } from '../partners/partners.module';
import { ConversionsController } from './conversions.controller';
import { ConversionsRepository } from './conversions.repository';
import { ConversionsService } from './conversions.service';

@Module({
  imports: [ClicksModule, DedupModule, PartnersModule],
  controllers: [ConversionsController],
  providers: [ConversionsRepository, ConversionsService],
  exports: [ConversionsService],
})
export class ConversionsModule {}
