import { Module } from '@nestjs/common';
import { ThrottlerStorageService } from '@nestjs/throttler';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { ClicksModule } from '../clicks/clicks.module';
import { ConversionsModule } from '../conversions/conversions.module';
import { PartnersModule } from '../partners/partners.module';
import { LinkSigner } from './link-signer';
import { SignedClickGuard } from './signed-click.guard';
import { TagController } from './tag.controller';
import {
  CLICK_REDIRECT_THROTTLE_BY_ADDRESS,
  ClickRedirectThrottlerGuard,
  TAG_THROTTLE_BY_ADDRESS,
  TAG_THROTTLE_BY_CLICK,
  TAG_THROTTLER_STORAGE,
  TagAddressThrottlerGuard,
  TagClickThrottlerGuard,
} from './tag-throttler.guard';
import { TagService } from './tag.service';

/** The browser path: the click redirect, the Tag script, and the Tag's conversion endpoint. */
@Module({
  imports: [ClicksModule, ConversionsModule, PartnersModule],
  controllers: [TagController],
  providers: [
    TagService,
    LinkSigner,
    SignedClickGuard,
    TagAddressThrottlerGuard,
    TagClickThrottlerGuard,
    ClickRedirectThrottlerGuard,
    { provide: TAG_THROTTLER_STORAGE, useClass: ThrottlerStorageService },
    {
      provide: TAG_THROTTLE_BY_ADDRESS,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => ({
        throttlers: [{ name: 'address', limit: c.tagRateLimitPerAddress, ttl: c.tagRateWindowMs }],
        setHeaders: false,
      }),
    },
    {
      provide: TAG_THROTTLE_BY_CLICK,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => ({
        throttlers: [{ name: 'click', limit: c.tagRateLimitPerClick, ttl: c.tagRateWindowMs }],
        setHeaders: false,
      }),
    },
    {
      provide: CLICK_REDIRECT_THROTTLE_BY_ADDRESS,
      inject: [APP_CONFIG],
      useFactory: (c: AppConfig) => ({
        throttlers: [{ name: 'redirect', limit: c.clickRateLimitPerAddress, ttl: c.tagRateWindowMs }],
        setHeaders: false,
      }),
    },
  ],
})
export class TagModule {}
