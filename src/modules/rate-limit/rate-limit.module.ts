import { Global, Module } from '@nestjs/common';
import { ThrottlerModule } from '@nestjs/throttler';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import { PartnersModule } from '../partners/partners.module';
import { resolvedLimit } from './api-key-throttler.guard';
import { RateLimitPolicy } from './rate-limit.policy';
import { MemoryThrottlerStorage } from './memory-throttler.storage';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/**
 * Per-API-key rate limits: a fixed one-minute window per key, in Redis when REDIS_URL is set
 * (shared by every replica), in this process's memory otherwise. The guard itself is registered
 * as an APP_GUARD in the app module, right after the ApiKeyGuard.
 */
@Global()
@Module({
  imports: [
    PartnersModule,
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: async (config: AppConfig) => {
        const redis = config.redisUrl ? new RedisThrottlerStorage(config.redisUrl, config.redisKeyPrefix) : undefined;
        await redis?.ready(3000);
        const storage = redis ?? new MemoryThrottlerStorage();
        return { throttlers: [{ name: 'default', ttl: 60_000, limit: resolvedLimit }], storage };
      },
    }),
  ],
  providers: [RateLimitPolicy],
  exports: [RateLimitPolicy, ThrottlerModule],
})
export class RateLimitModule {}
