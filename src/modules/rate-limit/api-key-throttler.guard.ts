import { ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerModuleOptions,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { ThrottlerLimitDetail } from '@nestjs/throttler/dist/throttler.guard.interface';
import { AppError } from '../../common/errors';
import type { Principal } from '../auth/principal';
import { RateLimitPolicy } from './rate-limit.policy';

type Req = { principal?: Principal; rateLimitPerMinute?: number };

/**
 * Rate limits per API key (registered after the ApiKeyGuard, so the principal is known). Public
 * routes (health, metrics, the browser Tag) are not counted here. Answers 429 {"detail"} with
 * Retry-After; every counted answer carries X-RateLimit-Limit, -Remaining and -Reset.
 */
@Injectable()
export class ApiKeyThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    private readonly policy: RateLimitPolicy,
  ) {
    super(options, storage, reflector);
  }

  protected async shouldSkip(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<Req>();
    if (!req.principal) return true;
    const limit = await this.policy.perMinute(req.principal);
    if (limit <= 0) return true;
    req.rateLimitPerMinute = limit;
    return false;
  }

  protected async getTracker(req: Record<string, unknown>): Promise<string> {
    return `key:${(req as Req).principal!.keyId}`;
  }

  /** One budget per key across all routes. */
  protected generateKey(_context: ExecutionContext, tracker: string): string {
    return tracker;
  }

  protected async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw new AppError('rate_limited', undefined, {
      'Retry-After': String(Math.max(1, detail.timeToBlockExpire)),
    });
  }
}

/** The throttler's limit for this request, as resolved by the guard. */
export function resolvedLimit(context: ExecutionContext): number {
  return context.switchToHttp().getRequest<Req>().rateLimitPerMinute ?? Number.MAX_SAFE_INTEGER;
}
