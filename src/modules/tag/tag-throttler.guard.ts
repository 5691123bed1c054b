import { ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ThrottlerGuard, ThrottlerLimitDetail, ThrottlerModuleOptions, ThrottlerStorage } from '@nestjs/throttler';
import { AppError } from '../../common/errors';
import { signedClickOf } from './signed-click.guard';

/*
 * The public Tag endpoint's rate limits, local to the tag module (no ThrottlerModule.forRoot, so
 * nothing here touches a global throttler another module may configure). Two guards share one
 * in-process store: per client address before the signature check (forgeries are limited too),
 * per click after it (so nobody can spend a click's budget without its signature). The click
 * redirect (GET /c) has its own per-address budget in the same store, checked before anything else.
 */
export const TAG_THROTTLER_STORAGE = Symbol('TAG_THROTTLER_STORAGE');
export const TAG_THROTTLE_BY_ADDRESS = Symbol('TAG_THROTTLE_BY_ADDRESS');
export const TAG_THROTTLE_BY_CLICK = Symbol('TAG_THROTTLE_BY_CLICK');
export const CLICK_REDIRECT_THROTTLE_BY_ADDRESS = Symbol('CLICK_REDIRECT_THROTTLE_BY_ADDRESS');

abstract class TagThrottlerGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(
    _context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    throw new AppError('rate_limited', undefined, {
      'Retry-After': String(Math.max(1, detail.timeToBlockExpire)),
    });
  }
}

/** At most TAG_RATE_LIMIT_PER_ADDRESS requests per TAG_RATE_WINDOW from one client address. */
@Injectable()
export class TagAddressThrottlerGuard extends TagThrottlerGuard {
  constructor(
    @Inject(TAG_THROTTLE_BY_ADDRESS) options: ThrottlerModuleOptions,
    @Inject(TAG_THROTTLER_STORAGE) storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    super(options, storage, reflector);
  }
}

/** At most TAG_RATE_LIMIT_PER_CLICK requests per TAG_RATE_WINDOW for one (verified) click. */
@Injectable()
export class TagClickThrottlerGuard extends TagThrottlerGuard {
  constructor(
    @Inject(TAG_THROTTLE_BY_CLICK) options: ThrottlerModuleOptions,
    @Inject(TAG_THROTTLER_STORAGE) storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    super(options, storage, reflector);
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    const clickId = signedClickOf(req.body).click_id;
    return typeof clickId === 'string' ? `click:${clickId}` : 'click:-';
  }
}

/** At most CLICK_RATE_LIMIT_PER_ADDRESS click redirects (GET /c) per TAG_RATE_WINDOW from one client address. */
@Injectable()
export class ClickRedirectThrottlerGuard extends TagThrottlerGuard {
  constructor(
    @Inject(CLICK_REDIRECT_THROTTLE_BY_ADDRESS) options: ThrottlerModuleOptions,
    @Inject(TAG_THROTTLER_STORAGE) storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    super(options, storage, reflector);
  }
}
