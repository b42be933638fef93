import { type Context, SpanKind, context } from '@opentelemetry/api';
import type { TokenClaims } from '@parley/auth';
import {
  type ErrorBody,
  type WsMeta,
  type WsNotificationData,
  type WsNotificationMethod,
  type WsRequest,
  type WsRequestId,
  WS_CLOSE,
  WS_MAX_FRAME_BYTES,
  parseClientFrame,
} from '@parley/contracts';
import {
  CORRELATION_HEADER,
  type Logger,
  extractHeaders,
  getCorrelationId,
  inSpan,
  injectHeaders,
  newCorrelationId,
  setCorrelationId,
} from '@parley/observability';
import type { WebSocket } from 'ws';
import { SignalingError, errorBody } from '../core/errors';
import type { Hub } from '../core/hub.service';
import { randomId } from '../core/ids';
import type { LiveSession, PeerLink } from '../core/peer-link';
import type { PeerService } from '../core/peer.service';
import type { VoiceService } from '../core/voice.service';
import type { RateLimitService } from '../core/rate-limit.service';
import type { SignalingSettings } from '../core/settings';
import type { WsMetrics } from './ws.metrics';

/** What a connection needs from the app. */
export interface ConnectionDeps {
  peers: PeerService;
  voice: VoiceService;
  hub: Hub;
  rateLimits: RateLimitService;
  settings: SignalingSettings;
  logger: Logger;
  metrics: WsMetrics;
}

/** Notifications buffered while a join is in progress (then flushed after its response). */
const MAX_BUFFERED = 1000;
/** Above this much unsent data, notifications to a slow client are dropped. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
const BAD_FRAME_WINDOW_MS = 60_000;

type State = 'open' | 'joining' | 'joined' | 'closed';

/**
 * One client WebSocket: parses every frame, answers every request exactly once within the
 * request deadline (`TIMEOUT` past it, whatever the handler does later), enforces rate limits,
 * in-flight and bad-frame limits, and forwards notifications. Implements {@link PeerLink} for the
 * core services.
 */
export class Connection implements PeerLink {
  readonly connId = randomId(6);
  session?: LiveSession;
  /** Set by the gateway's heartbeat: a pong (or any frame) since the last ping. */
  alive = true;
  private state: State = 'open';
  private inflight = 0;
  private readonly badFrames: number[] = [];
  private buffered: Array<() => void> = [];
  private refreshTimer?: NodeJS.Timeout;
  private claimsNow: TokenClaims;
  private released = false;

  constructor(
    private readonly ws: WebSocket,
    claims: TokenClaims,
    readonly ip: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.claimsNow = claims;
    ws.on('message', (data: Buffer, isBinary: boolean) => this.onFrame(data, isBinary));
    ws.on('pong', () => (this.alive = true));
    ws.on('close', () => void this.onClose());
    ws.on('error', (err) => {
      deps.logger.debug('error() | socket error', { conn: this.connId, err: err.message });
    });
    deps.hub.track(this);
  }

  /** The token the connection was opened with (refreshed tokens do not change its claims). */
  get claims(): TokenClaims {
    return this.claimsNow;
  }

  /** Whether the socket is open. */
  get open(): boolean {
    return this.state !== 'closed' && this.ws.readyState === this.ws.OPEN;
  }

  // ---- inbound ---------------------------------------------------------------------------

  private onFrame(data: Buffer, isBinary: boolean): void {
    if (this.state === 'closed') return;
    this.alive = true;
    if (isBinary)
      return this.reject(null, 'binary', {
        code: 'BAD_REQUEST',
        message: 'binary frames are not supported',
      });
    if (data.length > WS_MAX_FRAME_BYTES) {
      return this.reject(null, 'too_large', {
        code: 'PAYLOAD_TOO_LARGE',
        message: `frames are limited to ${WS_MAX_FRAME_BYTES} bytes`,
      });
    }
    const parsed = parseClientFrame(data.toString('utf8'));
    if (!parsed.ok) return this.reject(parsed.id, parsed.error.code.toLowerCase(), parsed.error);
    void this.dispatch(parsed.request);
  }

  private reject(id: WsRequestId | null, reason: string, error: ErrorBody): void {
    this.deps.metrics.badFrames.inc({ reason });
    this.sendResponse({ type: 'response', id, ok: false, error: { ...error, retryable: false } });
    const now = Date.now();
    this.badFrames.push(now);
    while (this.badFrames.length && (this.badFrames[0] as number) < now - BAD_FRAME_WINDOW_MS) {
      this.badFrames.shift();
    }
    if (this.badFrames.length > this.deps.settings.config.SIGNALING_WS_BAD_FRAMES) {
      this.deps.logger.warn('reject() | closing a misbehaving connection', {
        conn: this.connId,
        ip: this.ip,
        identity: this.claims.identity,
      });
      this.close(WS_CLOSE.policy, 'too many bad frames');
    }
  }

  private async dispatch(req: WsRequest): Promise<void> {
    const cfg = this.deps.settings.config;
    if (this.inflight >= cfg.SIGNALING_WS_MAX_INFLIGHT) {
      this.sendError(req.id, {
        code: 'RATE_LIMITED',
        message: `at most ${cfg.SIGNALING_WS_MAX_INFLIGHT} requests in flight`,
        retryable: true,
      });
      return;
    }
    this.inflight++;
    const started = performance.now();
    let answered = false;
    let parent: Context = req.meta ? extractHeaders(req.meta) : context.active();
    const correlationId = getCorrelationId(parent) ?? newCorrelationId();
    parent = setCorrelationId(parent, correlationId);
    const meta: WsMeta = { [CORRELATION_HEADER]: correlationId };
    const timer = setTimeout(() => {
      answered = true;
      this.deps.metrics.requests.observe(
        { method: req.method, outcome: 'TIMEOUT' },
        (performance.now() - started) / 1000,
      );
      this.sendError(
        req.id,
        {
          code: 'TIMEOUT',
          message: `no answer within ${cfg.SIGNALING_REQUEST_TIMEOUT_MS} ms`,
          retryable: true,
        },
        meta,
      );
    }, cfg.SIGNALING_REQUEST_TIMEOUT_MS);
    try {
      const data = await inSpan(
        `ws ${req.method}`,
        {
          kind: SpanKind.SERVER,
          parent,
          attributes: {
            'rpc.system': 'parley-ws',
            'rpc.method': req.method,
            'parley.correlation_id': correlationId,
          },
        },
        () => this.handle(req),
      );
      if (answered) {
        // The client was told TIMEOUT: what the handler created after all must not linger.
        await this.deps.peers.undoLate(this, req.method, data).catch(() => undefined);
        if (req.method === 'join' && this.state !== 'closed') {
          this.state = 'open';
          this.buffered = [];
          clearTimeout(this.refreshTimer);
        }
        return;
      }
      answered = true;
      clearTimeout(timer);
      this.deps.metrics.requests.observe(
        { method: req.method, outcome: 'ok' },
        (performance.now() - started) / 1000,
      );
      this.sendResponse({ type: 'response', id: req.id, ok: true, data, meta });
      if (req.method === 'join') this.flushBuffered();
      if (req.method === 'leave') this.close(WS_CLOSE.normal, 'left');
    } catch (err) {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      const body = errorBody(err);
      this.deps.metrics.requests.observe(
        { method: req.method, outcome: body.code },
        (performance.now() - started) / 1000,
      );
      context.with(parent, () =>
        this.deps.logger.log(
          body.code === 'INTERNAL' ? 'error' : 'debug',
          'dispatch() | request failed',
          {
            conn: this.connId,
            method: req.method,
            code: body.code,
            reason: body.message,
            ...(body.code === 'INTERNAL' ? { stack: (err as Error)?.stack } : {}),
          },
        ),
      );
      this.sendError(req.id, body, meta);
    } finally {
      this.inflight--;
    }
  }

  private async handle(req: WsRequest): Promise<unknown> {
    const { peers, rateLimits } = this.deps;
    const c = this.claims;
    await rateLimits.enforce(
      req.method === 'join' ? 'join' : 'ws',
      rateLimits.wsBuckets(c.tenant, c.identity, req.method === 'join'),
    );
    if (req.method === 'ping')
      return { ...(req.data.t === undefined ? {} : { t: req.data.t }), serverTime: Date.now() };
    if (req.method === 'join') {
      if (this.state !== 'open')
        throw new SignalingError('ALREADY_JOINED', 'this connection already joined');
      this.state = 'joining';
      try {
        const r = await peers.join(this, req.data);
        if ((this.state as State) === 'closed') {
          // The socket dropped while joining: the session starts its grace like any drop.
          await peers.disconnected(this);
          return r;
        }
        this.state = 'joined';
        this.scheduleRefresh();
        return r;
      } catch (err) {
        if (this.state === 'joining') this.state = 'open';
        this.buffered = [];
        throw err;
      }
    }
    if (this.state !== 'joined' || !this.session)
      throw new SignalingError('NOT_JOINED', 'send join first');
    switch (req.method) {
      case 'createTransport':
        return peers.createTransport(this, req.data);
      case 'connectTransport':
        return peers.connectTransport(this, req.data);
      case 'produce':
        return peers.produce(this, req.data);
      case 'consume':
        return peers.consume(this, req.data);
      case 'resumeConsumer':
        return peers.resumeConsumer(this, req.data);
      case 'pauseProducer':
        return peers.setProducerPaused(this, req.data.producerId, true);
      case 'resumeProducer':
        return peers.setProducerPaused(this, req.data.producerId, false);
      case 'closeProducer':
        return peers.closeProducer(this, req.data.producerId);
      case 'restartIce':
        return peers.restartIce(this, req.data);
      case 'say':
        return this.deps.voice.say(this, req.data);
      case 'stopSpeech':
        return this.deps.voice.stopSpeech(this, req.data);
      case 'leave':
        this.state = 'open';
        await peers.leave(this);
        return {};
      default: {
        const never: never = req;
        throw new SignalingError('UNKNOWN_METHOD', `unknown method ${(never as WsRequest).method}`);
      }
    }
  }

  // ---- outbound --------------------------------------------------------------------------

  /** Sends a notification (buffered during a join, dropped for a backed-up client). */
  notify<N extends WsNotificationMethod>(method: N, data: WsNotificationData<N>): void {
    const headers = injectHeaders({});
    const send = () =>
      this.send({
        type: 'notification',
        method,
        data,
        ...(Object.keys(headers).length ? { meta: headers } : {}),
      });
    if (this.state === 'joining') {
      if (this.buffered.length < MAX_BUFFERED) this.buffered.push(send);
      return;
    }
    if (this.ws.bufferedAmount > MAX_BACKLOG_BYTES) {
      this.deps.metrics.dropped.inc();
      return;
    }
    send();
  }

  private flushBuffered(): void {
    const list = this.buffered;
    this.buffered = [];
    for (const send of list) send();
  }

  private sendError(id: WsRequestId | null, error: ErrorBody, meta?: WsMeta): void {
    this.sendResponse({ type: 'response', id, ok: false, error, ...(meta ? { meta } : {}) });
  }

  private sendResponse(msg: Record<string, unknown>): void {
    this.send(msg);
  }

  private send(msg: unknown): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(msg));
  }

  /** Closes the socket (the session's fate was decided by the caller or by the close handler). */
  close(code: number, reason: string): void {
    if (this.ws.readyState === this.ws.CLOSED || this.ws.readyState === this.ws.CLOSING) return;
    this.ws.close(code, reason.slice(0, 120));
  }

  /** Drops the socket without a close handshake (dead peer). */
  terminate(): void {
    this.ws.terminate();
  }

  /** Pings (heartbeat). */
  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /**
   * Graceful stop: waits (bounded) for requests in flight, tells the client to reconnect, puts
   * the session into its grace period, and closes with 1012.
   */
  async drain(deadline: number): Promise<void> {
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.notify('reconnectRequired', { reason: 'shutdown', retryAfterMs: 1000 });
    await this.releaseOnce();
    this.close(WS_CLOSE.serviceRestart, 'server restarting, reconnect');
  }

  private async onClose(): Promise<void> {
    this.state = 'closed';
    clearTimeout(this.refreshTimer);
    this.buffered = [];
    await this.releaseOnce();
    this.deps.hub.untrack(this);
  }

  private async releaseOnce(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.session) await this.deps.peers.disconnected(this);
  }

  /**
   * Sends a fresh token before the current one expires, so a reconnect after the expiry still
   * authenticates (the call itself is never cut by expiry; see libs/auth tokens.ts).
   */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    const c = this.claimsNow;
    const lifetime = Math.max(10_000, c.expiresAt - c.notBefore);
    const lead = Math.min(60_000, lifetime / 3);
    const delay = Math.max(0, c.expiresAt - lead - Date.now());
    if (delay > 2 ** 31 - 1) return;
    this.refreshTimer = setTimeout(() => {
      void this.deps.settings.verifier
        .refresh(c, Math.round(lifetime / 1000))
        .then((t) => {
          if (this.state === 'closed') return;
          this.claimsNow = { ...c, expiresAt: t.claims.expiresAt, notBefore: t.claims.notBefore };
          this.notify('tokenRefreshed', { token: t.token, expiresAt: t.claims.expiresAt });
          this.scheduleRefresh();
        })
        .catch((err: Error) =>
          this.deps.logger.warn('refresh() | cannot refresh token', {
            conn: this.connId,
            err: err.message,
          }),
        );
    }, delay);
    this.refreshTimer.unref();
  }
}
