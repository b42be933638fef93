import { Inject, Injectable } from '@nestjs/common';
import { AuthError, mintToken } from '@parley/auth';
import type { CreateTokenRequest, CreateTokenResponse } from '@parley/contracts';
import type { z } from 'zod';
import { SETTINGS, type SignalingSettings } from './settings';

/** `POST /v1/tokens`: mints a participant token signed with the caller's own API secret. */
@Injectable()
export class TokenService {
  constructor(@Inject(SETTINGS) private readonly settings: SignalingSettings) {}

  /** Mints a token for the tenant of `apiKey`; `wsBase` is the `ws(s)://host` to connect to. */
  async mint(
    apiKey: string,
    req: z.output<typeof CreateTokenRequest>,
    wsBase: string,
  ): Promise<CreateTokenResponse> {
    const key = this.settings.tenants.find(apiKey);
    if (!key) throw new AuthError('UNAUTHORIZED', 'unknown API key');
    const cfg = this.settings.config;
    const ttlS = Math.min(
      req.ttlS ?? cfg.SIGNALING_TOKEN_DEFAULT_TTL_S,
      cfg.SIGNALING_TOKEN_MAX_TTL_S,
    );
    const { token, claims } = await mintToken({
      apiKey: key.apiKey,
      apiSecret: key.apiSecret,
      tenant: key.tenant,
      identity: req.identity,
      room: req.room,
      role: req.role,
      ...(req.grants ? { grants: req.grants } : {}),
      ...(req.name ? { name: req.name } : {}),
      ttlS,
      ...(req.notBeforeS ? { notBeforeS: req.notBeforeS } : {}),
    });
    return {
      token,
      identity: claims.identity,
      room: claims.room,
      role: claims.role,
      grants: claims.grants,
      expiresAt: claims.expiresAt,
      wsUrl: `${wsBase}/v1/ws`,
    };
  }
}
