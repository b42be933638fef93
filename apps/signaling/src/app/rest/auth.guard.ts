import {
  type CanActivate,
  type ExecutionContext,
  Inject,
  Injectable,
  createParamDecorator,
} from '@nestjs/common';
import type { Principal } from '@parley/auth';
import type { Request } from 'express';
import { RateLimitService } from '../core/rate-limit.service';
import { SETTINGS, type SignalingSettings } from '../core/settings';

type WithPrincipal = Request & { principal?: Principal };

/**
 * Authenticates every `/v1` REST call (`Basic apiKey:apiSecret` or `Bearer <token>`, precise
 * 401 codes) and counts it against the caller's and the tenant's REST rate limits (429 with
 * `Retry-After`). What the principal may do is decided per route by `authorizeRoom/Tenant`.
 */
@Injectable()
export class ApiAuthGuard implements CanActivate {
  constructor(
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const req = ctx.switchToHttp().getRequest<WithPrincipal>();
    const principal = await this.settings.authenticator.authenticate(req.headers.authorization);
    await this.rateLimits.enforce('rest', this.rateLimits.restBuckets(principal));
    req.principal = principal;
    return true;
  }
}

/** The authenticated caller of a REST route. */
export const Caller = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): Principal =>
    ctx.switchToHttp().getRequest<WithPrincipal>().principal as Principal,
);
