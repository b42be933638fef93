import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  type OnApplicationBootstrap,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import { DisplayName, Identity, RoomName } from '@parley/contracts';
import type { Logger } from '@parley/observability';
import { LOGGER, ZodPipe } from '@parley/runtime';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { RoomService } from './core/room.service';
import { SETTINGS, type SignalingSettings } from './core/settings';
import { TokenService } from './core/token.service';
import { buildDemoBundle } from './demo.bundle';
import { SignalingError } from './core/errors';

const PAGE = join(__dirname, '..', '..', 'public', 'index.html');

/** `POST /demo/token` body: who joins which room, and the room's options when it is new. */
const DevTokenRequest = z
  .object({
    identity: Identity,
    room: RoomName,
    name: DisplayName.optional(),
    transcription: z.boolean().optional(),
    agent: z.enum(['none', 'echo']).optional(),
  })
  .strict();

interface Bundle {
  code: Buffer;
  gzip: Buffer;
  etag: string;
}

/**
 * The browser page `npm start` points at: `/` (HTML), `/app.js` (the page's TypeScript with
 * `@parley/client` and mediasoup-client, bundled by esbuild in memory on first use),
 * `/demo/config`, and — only with `SIGNALING_DEV_TOKENS` outside production — `POST /demo/token`,
 * which creates the room and mints a member token without credentials.
 */
@Controller()
export class DemoController implements OnApplicationBootstrap {
  private page?: string;
  private bundle?: Promise<Bundle>;
  private readonly devKey?: string;

  constructor(
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(RoomService) private readonly rooms: RoomService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const c = settings.config;
    const key = c.SIGNALING_DEV_TOKENS;
    if (key && c.NODE_ENV === 'production') {
      logger.warn('demo() | SIGNALING_DEV_TOKENS ignored in production');
    } else if (key && !settings.tenants.find(key)) {
      logger.warn('demo() | SIGNALING_DEV_TOKENS names no key of SIGNALING_TENANT_KEYS', { key });
    } else if (key) {
      this.devKey = key;
      logger.warn('demo() | development tokens on: anyone reaching / can join rooms', { key });
    }
  }

  onApplicationBootstrap(): void {
    // With development tokens this is the demo `npm start` serves: build the page script now so
    // the first visit does not wait for it. Elsewhere (tests, production) on first request.
    if (this.devKey) void this.getBundle().catch(() => undefined);
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  index(): string {
    return (this.page ??= readFileSync(PAGE, 'utf8'));
  }

  @Get('app.js')
  async script(@Req() req: Request, @Res() res: Response): Promise<void> {
    const b = await this.getBundle();
    res.setHeader('Content-Type', 'text/javascript; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', b.etag);
    res.setHeader('Vary', 'Accept-Encoding');
    if (req.headers['if-none-match'] === b.etag) {
      res.status(304).end();
      return;
    }
    if (/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      res.setHeader('Content-Encoding', 'gzip');
      res.status(200).end(b.gzip);
      return;
    }
    res.status(200).end(b.code);
  }

  @Get('demo/config')
  config(): { devTokens: boolean } {
    return { devTokens: this.devKey !== undefined };
  }

  @Post('demo/token')
  @HttpCode(201)
  async devToken(
    @Body(new ZodPipe(DevTokenRequest)) body: z.output<typeof DevTokenRequest>,
    @Req() req: Request,
  ) {
    const tenantKey = this.devKey ? this.settings.tenants.find(this.devKey) : undefined;
    if (!this.devKey || !tenantKey) {
      throw new SignalingError('NOT_FOUND', 'development tokens are off (SIGNALING_DEV_TOKENS)');
    }
    try {
      await this.rooms.create(tenantKey.tenant, {
        name: body.room,
        ...(body.transcription !== undefined ? { transcription: body.transcription } : {}),
        ...(body.agent ? { agent: body.agent } : {}),
      });
    } catch (err) {
      // An existing room keeps its options.
      if ((err as SignalingError).code !== 'CONFLICT') throw err;
    }
    return this.tokens.mint(
      this.devKey,
      {
        identity: body.identity,
        room: body.room,
        role: 'member',
        ...(body.name ? { name: body.name } : {}),
      },
      this.wsBase(req),
    );
  }

  private getBundle(): Promise<Bundle> {
    this.bundle ??= buildDemoBundle().then(
      (b) => {
        const code = Buffer.from(b.code, 'utf8');
        this.logger.info('bundle() | page script built', { bytes: code.length, ms: b.buildMs });
        return {
          code,
          gzip: gzipSync(code),
          etag: `"${createHash('sha256').update(code).digest('base64url').slice(0, 22)}"`,
        };
      },
      (err: unknown) => {
        this.bundle = undefined; // the next request tries again
        this.logger.error('bundle() | page script failed to build', {
          error: (err as Error).message,
        });
        throw new SignalingError(
          'INTERNAL',
          `the page script failed to build: ${(err as Error).message}`,
        );
      },
    );
    return this.bundle;
  }

  private wsBase(req: Request): string {
    const pub = this.settings.config.SIGNALING_PUBLIC_URL;
    if (pub) return pub.replace(/^http/, 'ws').replace(/\/$/, '');
    return `${req.protocol === 'https' ? 'wss' : 'ws'}://${req.headers.host ?? 'localhost'}`;
  }
}
