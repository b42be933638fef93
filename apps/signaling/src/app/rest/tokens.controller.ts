import { Body, Controller, HttpCode, Inject, Post, Req, UseGuards } from '@nestjs/common';
import { type Principal, authorizeTenant } from '@parley/auth';
import type { Request } from 'express';
import type { z } from 'zod';
import { SETTINGS, type SignalingSettings } from '../core/settings';
import { TokenService } from '../core/token.service';
import { API, nestPath } from './api-spec';
import { ApiAuthGuard, Caller } from './auth.guard';
import { ZodPipe } from '@parley/runtime';

/** `POST /v1/tokens`. */
@Controller()
@UseGuards(ApiAuthGuard)
export class TokensController {
  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
  ) {}

  @Post(nestPath(API.createToken))
  @HttpCode(API.createToken.status)
  create(
    @Caller() p: Principal,
    @Body(new ZodPipe(API.createToken.body)) body: z.output<typeof API.createToken.body>,
    @Req() req: Request,
  ) {
    authorizeTenant(p);
    return this.tokens.mint(p.kind === 'apiKey' ? p.apiKey : '', body, this.wsBase(req));
  }

  private wsBase(req: Request): string {
    const pub = this.settings.config.SIGNALING_PUBLIC_URL;
    if (pub) return pub.replace(/^http/, 'ws').replace(/\/$/, '');
    return `${req.protocol === 'https' ? 'wss' : 'ws'}://${req.headers.host ?? 'localhost'}`;
  }
}
