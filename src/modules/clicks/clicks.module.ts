import { Module } from '@nestjs/common';
import { PartnersModule } from '../partners/partners.module';
import { ClicksController } from './clicks.controller';
import { ClicksRepository } from './clicks.repository';
import { ClicksService } from './clicks.service';
import { ClickSigner } from './click-signer';

@Module({
  imports: [PartnersModule],
  controllers: [ClicksController],
  providers: [ClicksRepository, ClicksService, ClickSigner],
  exports: [ClicksService],
})
export class ClicksModule {}
