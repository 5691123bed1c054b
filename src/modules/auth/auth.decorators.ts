import { applyDecorators, createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiErrors } from '../../common/openapi';
import type { Role } from './api-key.entity';
import type { Principal } from './principal';

export const PUBLIC_KEY = 'auth:public';
export const ROLES_KEY = 'auth:roles';

/** The route needs no API key (the guard denies by default). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/**
 * The roles that may call the route (admin may call every route support may), and what that
 * means in OpenAPI: the bearer scheme and the guard's 401 and 403 bodies. On a controller or a
 * handler; the handler's wins.
 */
export const Authenticated = (...roles: Role[]) =>
  applyDecorators(
    SetMetadata(ROLES_KEY, roles),
    ApiBearerAuth(),
    ApiErrors('missing_token', 'invalid_api_key', 'forbidden'),
  );

export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<{ principal: Principal }>().principal;
});

/** The calling partner's id, behind `@Authenticated('partner')` (partner keys always have one). */
export const CurrentPartner = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  return partnerOf(ctx.switchToHttp().getRequest<{ principal?: Principal }>().principal);
});

/** The principal's partner id; a route without one is a wiring bug, never a caller's fault. */
export function partnerOf(principal: Principal | undefined): string {
  if (!principal?.partnerId) throw new Error("@CurrentPartner() on a route that is not @Authenticated('partner')");
  return principal.partnerId;
}
