import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../config/app-config';
import type { Principal } from '../auth/principal';
import { PartnersService } from '../partners/partners.service';

/**
 * How many requests per minute an API key may make (0: unlimited). Partner keys: their partner's
 * own limit, else RATE_LIMIT_PER_MINUTE. Our own keys (ingest, support, admin) are not limited:
 * the ad server's click ingest must never be throttled by a partner-facing default.
 */
@Injectable()
export class RateLimitPolicy {
  constructor(
    private readonly partners: PartnersService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async perMinute(principal: Principal): Promise<number> {
    if (principal.role !== 'partner' || !principal.partnerId) return 0;
    const own = await this.partners.rateLimitOf(principal.partnerId);
    return own ?? this.config.rateLimitPerMinute;
  }
}
