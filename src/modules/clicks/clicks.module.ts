import { Module } from '@nestjs/common';
import { PartnersModule } from '../partners/partners.module';
import { ClicksController } from './clicks.controller';
import { ClicksRepository } from './clicks.repository';
import { ClicksService } from './clicks.service';

@Module({
  imports: [PartnersModule],
  controllers: [ClicksController],
  providers: [ClicksRepository, ClicksService],
  exports: [ClicksService],
})
export class ClicksModule {}
