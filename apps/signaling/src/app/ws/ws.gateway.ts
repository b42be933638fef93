import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { AuthError, type TokenClaims } from '@parley/auth';
import { type ErrorBody, WS_CLOSE } from '@parley/contracts';
import type { HealthRegistry, Logger } from '@parley/observability';
import { CONFIG, HEALTH, LOGGER } from '@parley/runtime';
import type { CommonConfig } from '@parley/config';
import { WebSocketServer } from 'ws';
import { RateLimitedError, errorBody } from '../core/errors';
import { Hub } from '../core/hub.service';
import { PeerService } from '../core/peer.service';
import { VoiceService } from '../core/voice.service';
import { RateLimitService } from '../core/rate-limit.service';
import { SETTINGS, type SignalingSettings } from '../core/settings';
import { Connection } from './connection';
import { WsMetrics } from './ws.metrics';

/** Path of the WebSocket endpoint. */
export const WS_PATH = '/v1/ws';
/** Hard frame cap of the socket layer (close 1009); frames above 64 KiB get an error response. */
const HARD_MAX_PAYLOAD = 1024 * 1024;

/**
 * `/v1/ws?token=…` on the Nest HTTP server (the `ws` package, no Nest adapter): connection
 * attempts are rate-limited per IP (HTTP 429), the token is verified before anything else (a bad
 * token completes the handshake and closes with 4001 and the precise reason, so browsers can read
 * it), a heartbeat drops dead sockets, and shutdown drains every connection with a
 * `reconnectRequired` notification and close 1012 while their sessions enter the grace period.
 */
@Injectable()
export class WsGateway implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: HARD_MAX_PAYLOAD,
    perMessageDeflate: false,
  });
  private draining = false;
  private heartbeat?: NodeJS.Timeout;

  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(PeerService) private readonly peers: PeerService,
    @Inject(VoiceService) private readonly voice: VoiceService,
    @Inject(Hub) private readonly hub: Hub,
    @Inject(RateLimitService) private readonly rateLimits: RateLimitService,
    @Inject(WsMetrics) private readonly metrics: WsMetrics,
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(CONFIG) private readonly config: CommonConfig,
  ) {
    health.register('signaling', () =>
      this.draining ? { ok: false, reason: 'draining for shutdown' } : { ok: true },
    );
    if (settings.tenants.size === 0) {
      logger.warn(
        'constructor() | no tenants configured (SIGNALING_TENANT_KEYS): every token is refused',
      );
    }
  }

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.onUpgrade(req, socket, head).catch((err: Error) => {
        this.logger.error('onUpgrade() | handshake failed', { err: err.message });
        reject(socket, 500, { code: 'INTERNAL', message: 'internal error' });
      });
    });
    const intervalMs = this.settings.config.SIGNALING_WS_HEARTBEAT_S * 1000;
    this.heartbeat = setInterval(() => {
      for (const link of this.hub.openLinks()) {
        const c = link as Connection;
        if (!c.alive) {
          c.terminate();
          continue;
        }
        c.alive = false;
        c.ping();
      }
    }, intervalMs);
    this.heartbeat.unref();
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== WS_PATH) {
      return reject(socket, 404, { code: 'NOT_FOUND', message: `no WebSocket at ${url.pathname}` });
    }
    if (this.draining) {
      this.metrics.refused.inc({ reason: 'draining' });
      return reject(
        socket,
        503,
        { code: 'UNAVAILABLE', message: 'server restarting' },
        { 'Retry-After': '1' },
      );
    }
    const ip = req.socket.remoteAddress ?? 'unknown';
    try {
      await this.rateLimits.enforce('connect', this.rateLimits.connectBuckets(ip));
    } catch (err) {
      this.metrics.refused.inc({ reason: 'rate_limited' });
      const retry = err instanceof RateLimitedError ? err.retryAfterS : 1;
      return reject(socket, 429, errorBody(err), { 'Retry-After': String(retry) });
    }
    let claims: TokenClaims | undefined;
    let authError: AuthError | undefined;
    try {
      claims = this.settings.verifier.verifySync(url.searchParams.get('token'));
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      authError = err;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (authError || !claims) {
        this.metrics.refused.inc({ reason: authError?.code ?? 'TOKEN_MISSING' });
        ws.close(WS_CLOSE.unauthorized, `${authError?.code}: ${authError?.message}`.slice(0, 120));
        return;
      }
      if (this.draining) {
        ws.close(WS_CLOSE.serviceRestart, 'server restarting, reconnect');
        return;
      }
      const conn = new Connection(ws, claims, ip, {
        peers: this.peers,
        voice: this.voice,
        hub: this.hub,
        rateLimits: this.rateLimits,
        settings: this.settings,
        logger: this.logger,
        metrics: this.metrics,
      });
      this.logger.debug('onUpgrade() | connection opened', {
        conn: conn.connId,
        tenant: claims.tenant,
        identity: claims.identity,
      });
    });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeat);
    const links = this.hub.openLinks() as Connection[];
    if (links.length) {
      this.logger.info('drain() | telling clients to reconnect', { connections: links.length });
    }
    const deadline = Date.now() + Math.min(5000, this.config.SHUTDOWN_GRACE_MS / 2);
    await Promise.all(
      links.map((c) =>
        c.drain(deadline).catch((err: Error) =>
          this.logger.warn('drain() | connection drain failed', {
            conn: c.connId,
            err: err.message,
          }),
        ),
      ),
    );
    // Give the close handshakes a moment, then cut whatever is left.
    const until = Date.now() + 1000;
    while (this.wss.clients.size > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
function reject(
  socket: Duplex,
  status: number,
  body: ErrorBody,
  headers: Record<string, string> = {},
): void {
  if (socket.destroyed) return;
  const json = JSON.stringify({ code: body.code, message: body.message });
  const extra = Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n${extra}\r\n${json}`,
  );
}
