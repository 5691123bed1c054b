import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ConversionsModule } from '../conversions/conversions.module';
import { PartnersModule } from '../partners/partners.module';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhookOutboxModule } from '../webhook-outbox/webhook-outbox.module';
import { AdminWebhooksController, WebhooksController } from './webhooks.controller';
import { WebhooksRepository } from './webhooks.repository';
import { WebhooksService } from './webhooks.service';

/** Webhook endpoints, the delivery of the outbox, the delivery log and replay (issue 13). */
@Module({
  imports: [WebhookOutboxModule, ConversionsModule, PartnersModule, AuditModule],
  controllers: [WebhooksController, AdminWebhooksController],
  providers: [WebhooksRepository, WebhooksService, WebhookDispatcher],
  exports: [WebhooksService, WebhooksRepository],
})
export class WebhooksModule {}
