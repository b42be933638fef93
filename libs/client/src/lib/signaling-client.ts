import {
  type ErrorBody,
  type WsMeta,
  type WsMethod,
  type WsNotificationData,
  type WsNotificationMethod,
  type WsRequestData,
  type WsResponseData,
  WS_CLOSE,
  parseServerMessage,
} from '@parley/contracts';
import { Emitter } from './emitter';

/** The part of the WebSocket API the client uses (browser `WebSocket` and `ws` both fit). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor (`globalThis.WebSocket`, or `WebSocket` from the `ws` package). */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** Options of {@link SignalingClient}. */
export interface SignalingClientOptions {
  /** WebSocket URL without the token, e.g. `wss://parley.example.com/v1/ws`. */
  url: string;
  /** Participant token. Replaced by `tokenRefreshed` notifications. */
  token: string;
  /** WebSocket implementation (default `globalThis.WebSocket`; pass `ws` on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Client-side deadline of a request (default 15 s; the server answers within its own). */
  requestTimeoutMs?: number;
  /** Reconnect a joined session after an unexpected drop (default on). */
  reconnect?: boolean;
  /** Give up reconnecting after this many attempts (default 10). */
  maxReconnectAttempts?: number;
  /** First reconnect delay, doubled per attempt up to 5 s (default 250 ms). */
  reconnectDelayMs?: number;
  /** Envelope metadata for each request (trace context, correlation id). */
  meta?: () => WsMeta | undefined;
  /** Listener errors (default: ignored). */
  onListenerError?: (err: unknown) => void;
}

/** Why the socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
  /** Whether the client will try to reconnect the session. */
  willReconnect: boolean;
}

/** Events of {@link SignalingClient}: every notification by its method name, plus lifecycle. */
export type SignalingClientEvents = {
  [N in WsNotificationMethod]: [WsNotificationData<N>];
} & {
  /** The socket opened. */
  open: [];
  /** The socket closed. */
  close: [CloseInfo];
  /** A reconnect attempt is scheduled. */
  reconnecting: [{ attempt: number; delayMs: number }];
  /**
   * Reconnected and re-joined. With `resumed`, restart ICE on your transports with the given
   * `transports[].iceParameters`; without, the old peer is gone: rebuild transports and producers.
   */
  reconnected: [WsResponseData<'join'>];
  /** Reconnecting failed for good. */
  reconnectFailed: [ProtocolError];
};

/** An error response (or a client-side failure: `TIMEOUT`, `DISCONNECTED`). */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(body: ErrorBody) {
    super(body.message);
    this.code = body.code;
    this.retryable = body.retryable ?? false;
    this.details = body.details;
  }
}

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: ProtocolError) => void;
  timer: ReturnType<typeof setTimeout>;
}

// Closes after which reconnecting is pointless (credentials, removal, abuse, own choice).
const FINAL_CLOSES = new Set<number>([
  WS_CLOSE.normal,
  WS_CLOSE.unauthorized,
  WS_CLOSE.removed,
  WS_CLOSE.policy,
  WS_CLOSE.superseded,
]);
const OPEN = 1;

/**
 * Typed client of Parley's WebSocket protocol for browsers and Node: requests by id with
 * deadlines, notifications as typed events, automatic reconnect of a joined session with its
 * session id (the server restarts ICE on the transports and says so in the `reconnected` event),
 * and the newest token from `tokenRefreshed` for reconnects.
 *
 * ```ts
 * const client = new SignalingClient({ url, token, WebSocket });
 * await client.connect();
 * const joined = await client.join({ displayName: 'Ada' });
 * client.on('newProducer', (p) => ...);
 * const t = await client.request('createTransport', { direction: 'recv' });
 * ```
 */
export class SignalingClient extends Emitter<SignalingClientEvents> {
  private ws?: WebSocketLike;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private tokenNow: string;
  private session?: { sessionId: string; displayName?: string };
  private closedByUser = false;
  private attempts = 0;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private retryAfterMs?: number;
  private readonly Ws: WebSocketConstructor;

  constructor(private readonly opts: SignalingClientOptions) {
    super(opts.onListenerError);
    this.tokenNow = opts.token;
    const Ws = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ws) throw new Error('no WebSocket implementation: pass options.WebSocket');
    this.Ws = Ws;
    this.on('tokenRefreshed', (t) => (this.tokenNow = t.token));
    this.on('reconnectRequired', (r) => {
      if (r.transportId) return;
      // The whole session must reconnect (server restarting, SFU reset): drop and resume.
      this.retryAfterMs = r.retryAfterMs;
      if (r.reason === 'sfu_reset') this.ws?.close(4000, 'reconnect required');
    });
  }

  /** The current token (the newest refreshed one). */
  get token(): string {
    return this.tokenNow;
  }

  /** The session id after `join`. */
  get sessionId(): string | undefined {
    return this.session?.sessionId;
  }

  /** Whether the socket is open. */
  get connected(): boolean {
    return this.ws?.readyState === OPEN;
  }

  /** Opens the socket; rejects with the close reason when the server refuses (e.g. 4001). */
  connect(): Promise<void> {
    this.closedByUser = false;
    return new Promise((resolve, reject) => {
      const ws = new this.Ws(`${this.opts.url}?token=${encodeURIComponent(this.tokenNow)}`);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.emit('open');
        resolve();
      };
      ws.onmessage = (ev) => this.onMessage(ev.data);
      ws.onerror = () => undefined;
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.onClose(ev.code, ev.reason);
        if (!opened) {
          reject(
            new ProtocolError({ code: 'DISCONNECTED', message: `closed ${ev.code}: ${ev.reason}` }),
          );
        }
      };
      // A handshake refused with 4001 opens first and closes right away: connect() resolves,
      // then `close` fires with the code and reason; requests fail with DISCONNECTED.
    });
  }

  /** Sends a request and resolves with its typed response data; rejects with {@link ProtocolError}. */
  request<M extends WsMethod>(
    method: M,
    data: WsRequestData<M>,
    opts: { timeoutMs?: number } = {},
  ): Promise<WsResponseData<M>> {
    const ws = this.ws;
    if (!ws || ws.readyState !== OPEN) {
      return Promise.reject(
        new ProtocolError({ code: 'DISCONNECTED', message: 'not connected', retryable: true }),
      );
    }
    const id = this.nextId++;
    const meta = this.opts.meta?.();
    const frame = JSON.stringify({ type: 'request', id, method, data, ...(meta ? { meta } : {}) });
    return new Promise<WsResponseData<M>>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 15_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(
          new ProtocolError({
            code: 'TIMEOUT',
            message: `${method}: no response within ${timeoutMs} ms`,
            retryable: true,
          }),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, timer });
      ws.send(frame);
    });
  }

  /** `join`; remembers the session id for reconnects. */
  async join(data: Omit<WsRequestData<'join'>, 'sessionId'> = {}): Promise<WsResponseData<'join'>> {
    const r = await this.request('join', { ...data });
    this.session = {
      sessionId: r.sessionId,
      ...(data.displayName ? { displayName: data.displayName } : {}),
    };
    return r;
  }

  /** `join` resuming a known session id (e.g. after a page reload). */
  async resume(sessionId: string, displayName?: string): Promise<WsResponseData<'join'>> {
    const r = await this.request('join', { sessionId, ...(displayName ? { displayName } : {}) });
    this.session = { sessionId: r.sessionId, ...(displayName ? { displayName } : {}) };
    return r;
  }

  /** `leave`, then the server closes the socket; no reconnect. */
  async leave(): Promise<void> {
    this.closedByUser = true;
    try {
      await this.request('leave', {});
    } finally {
      this.session = undefined;
    }
  }

  /** Closes the socket without leaving (the session stays resumable for the grace period). */
  close(code: number = WS_CLOSE.normal, reason = 'client closed'): void {
    this.closedByUser = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.close(code, reason);
  }

  /** Drops the socket as a network failure would (tests): the client reconnects. */
  dropForTest(): void {
    this.ws?.close(4000, 'dropped');
  }

  private onMessage(raw: unknown): void {
    const text = typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer);
    const msg = parseServerMessage(text);
    if (!msg) return;
    if (msg.type === 'response') {
      if (typeof msg.id !== 'number') return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.data);
      else p.reject(new ProtocolError(msg.error));
      return;
    }
    (this.emit as (e: string, d: unknown) => void)(msg.method, msg.data);
  }

  private onClose(code: number, reason: string): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new ProtocolError({
          code: 'DISCONNECTED',
          message: `socket closed (${code} ${reason})`,
          retryable: true,
        }),
      );
      this.pending.delete(id);
    }
    const willReconnect =
      !this.closedByUser &&
      this.opts.reconnect !== false &&
      !!this.session &&
      !FINAL_CLOSES.has(code);
    this.emit('close', { code, reason, willReconnect });
    if (willReconnect) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const max = this.opts.maxReconnectAttempts ?? 10;
    if (this.attempts >= max) {
      this.emit(
        'reconnectFailed',
        new ProtocolError({ code: 'DISCONNECTED', message: `gave up after ${max} attempts` }),
      );
      return;
    }
    this.attempts++;
    const base = this.opts.reconnectDelayMs ?? 250;
    const backoff = Math.min(5000, base * 2 ** (this.attempts - 1));
    const delayMs = Math.round((this.retryAfterMs ?? 0) + backoff * (0.75 + Math.random() * 0.5));
    this.retryAfterMs = undefined;
    this.emit('reconnecting', { attempt: this.attempts, delayMs });
    this.reconnectTimer = setTimeout(() => void this.reconnectOnce(), delayMs);
  }

  private async reconnectOnce(): Promise<void> {
    const s = this.session;
    if (!s || this.closedByUser) return;
    try {
      await this.connect();
    } catch {
      return; // never opened: onClose already scheduled the next attempt (or gave up)
    }
    try {
      const r = await this.request('join', {
        sessionId: s.sessionId,
        ...(s.displayName ? { displayName: s.displayName } : {}),
      });
      this.session = { ...s, sessionId: r.sessionId };
      this.attempts = 0;
      this.emit('reconnected', r);
    } catch (err) {
      const e = err as ProtocolError;
      if (e.code === 'DISCONNECTED') return; // onClose handles it
      if (e.retryable) {
        this.ws?.close(4000, 'rejoin failed');
        return;
      }
      this.session = undefined;
      this.emit('reconnectFailed', e);
      this.close(WS_CLOSE.normal, 'rejoin refused');
    }
  }
}
