import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../../common/errors';
import type { Role } from './api-key.entity';
import { PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import { AuthService } from './auth.service';
import type { Principal } from './principal';

const BEARER = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i;

/** The token of an `Authorization: Bearer <token>` header, or null when there is none or it is malformed. */
export function bearerToken(authorization: string | undefined): string | null {
  return BEARER.exec(authorization ?? '')?.[1] ?? null;
}

/**
 * The global guard: every route needs a key unless it is marked @Public(). 401 for no key or a bad
 * one (with WWW-Authenticate: Bearer), 403 for a good key of the wrong role.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined>; ip?: string; principal?: Principal }>();
    const token = bearerToken(req.headers.authorization);
    if (token === null) throw new AppError('missing_token');
    const principal = await this.auth.authenticate(token, req.ip);
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    // Deny by default: a route that names no roles is open to admin keys only.
    const allowed = roles ?? ['admin'];
    const ok = allowed.includes(principal.role) || (principal.role === 'admin' && allowed.includes('support'));
    if (!ok) throw new AppError('forbidden');
    req.principal = principal;
    return true;
  }
}
