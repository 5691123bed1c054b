import { Module } from '@nestjs/common';
import { WebhookOutbox } from './webhook-outbox';

/** The outbox's write side, with no dependencies, so the conversion write path can use it. */
@Module({ providers: [WebhookOutbox], exports: [WebhookOutbox] })
export class WebhookOutboxModule {}
