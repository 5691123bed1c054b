import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { AppError } from '../../common/errors';
import { InvalidBody } from '../../common/json-body';
import { ClicksService } from '../clicks/clicks.service';

/** The body's signed click, read without trusting its shape (the validation pipe runs later). */
export function signedClickOf(body: unknown): { click_id?: unknown; sig?: unknown; exp?: unknown } {
  return body && typeof body === 'object' && !Array.isArray(body) && !(body instanceof InvalidBody)
    ? (body as object)
    : {};
}

/**
 * The Tag's credential is its signed click: `click_id`, `sig` and `exp` in the body. Checked here,
 * in constant time and before any database read: a bad one is 401 "Invalid click signature", a
 * good one past its expiry 401 "Click signature expired". A body that could not be parsed at all
 * carries no credential to check and goes on to the validation pipe's 422.
 */
@Injectable()
export class SignedClickGuard implements CanActivate {
  constructor(private readonly clicks: ClicksService) {}

  canActivate(context: ExecutionContext): boolean {
    const body = context.switchToHttp().getRequest<{ body?: unknown }>().body;
    if (body instanceof InvalidBody) return true;
    const c = signedClickOf(body);
    const check = this.clicks.verifyClickSignature(c.click_id, c.sig, c.exp);
    if (check === 'invalid') throw new AppError('invalid_click_signature');
    if (check === 'expired') throw new AppError('click_signature_expired');
    return true;
  }
}
