import { hostname } from 'node:os';
import { ROOT_CONTEXT, SpanKind, context, trace } from '@opentelemetry/api';
import {
  type ErrorBody,
  type EventContract,
  type PayloadOf,
  ReplyEnvelope,
  type RequestContract,
  type RequestOf,
  type ResponseOf,
} from '@parley/contracts';
import {
  type Logger,
  type Metrics,
  contextFromTraceFields,
  getCorrelationId,
  isValidCorrelationId,
  newCorrelationId,
  recordError,
  setCorrelationId,
  traceFields,
  tracer,
} from '@parley/observability';
import {
  ErrorCode,
  Events,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NatsError,
  type Subscription,
  connect,
  createInbox,
} from 'nats';
import { decodeJson, encodeJson, subjectWith, traceFieldsOf, traceHeaders } from './codec';
import { MessagingError, toErrorBody } from './errors';

/** Options of {@link NatsMessaging}. */
export interface NatsMessagingOptions {
  /** NATS server URLs. */
  servers: string[];
  /** Connection name shown by the server (`<service>@<node>`). */
  name: string;
  /** Default queue group of served requests (the service name). */
  queue: string;
  user?: string;
  password?: string;
  token?: string;
  /** Default request deadline. */
  defaultTimeoutMs?: number;
  logger: Logger;
  metrics?: Metrics;
}

/** What a request handler receives besides the validated payload. */
export interface HandlerMeta {
  subject: string;
  headers?: MsgHdrs;
  correlationId: string;
}

/** Per-call options of {@link NatsMessaging.request}. */
export interface RequestOptions {
  /** Deadline; defaults to the contract's. */
  timeoutMs?: number;
  /** Trailing subject tokens (e.g. a node id for a directed request). */
  tokens?: string[];
}

type Registration = (nc: NatsConnection) => Subscription;

/**
 * Typed NATS messaging: every payload is validated against its contract on both ends, W3C trace
 * context and the correlation id travel in NATS headers, every request has a deadline, and
 * transport failures become {@link MessagingError}s with `code` and `retryable`.
 *
 * The connection is established in the background and retried forever, so a service starts (and
 * reports not-ready) while NATS is down; registrations are applied once connected and survive
 * reconnects.
 */
export class NatsMessaging {
  private nc?: NatsConnection;
  private inbox?: ReplyInbox;
  private closed = false;
  private connectedNow = false;
  private lastError?: string;
  private readonly registrations: Registration[] = [];
  private readonly subscriptions: Subscription[] = [];
  private readonly waiters: Array<() => void> = [];

  constructor(private readonly opts: NatsMessagingOptions) {}

  /** Starts connecting (resolves immediately; see {@link waitUntilConnected}). */
  start(): void {
    void this.connectLoop();
  }

  private async connectLoop(): Promise<void> {
    try {
      const nc = await connect({
        servers: this.opts.servers,
        name: this.opts.name,
        user: this.opts.user,
        pass: this.opts.password,
        token: this.opts.token,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        pingInterval: 5_000,
        maxPingOut: 2,
      });
      if (this.closed) {
        await nc.close();
        return;
      }
      this.nc = nc;
      this.inbox = new ReplyInbox(nc, this.opts.logger);
      this.connectedNow = true;
      this.opts.logger.info('start() | connected to NATS', { server: nc.getServer() });
      for (const reg of this.registrations) this.subscriptions.push(reg(nc));
      for (const w of this.waiters.splice(0)) w();
      void this.watchStatus(nc);
      void nc.closed().then((err) => {
        this.connectedNow = false;
        this.inbox?.rejectAll(new MessagingError('UNAVAILABLE', 'NATS connection closed', true));
        if (err)
          this.opts.logger.error('closed() | NATS connection closed with error', {
            err: err.message,
          });
      });
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.logger.error('start() | cannot connect to NATS', { err: this.lastError });
    }
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === Events.Disconnect) {
        this.connectedNow = false;
        this.lastError = `disconnected from ${String(s.data)}`;
        this.opts.logger.warn('status() | NATS disconnected', { server: s.data });
      } else if (s.type === Events.Reconnect) {
        this.connectedNow = true;
        this.opts.logger.info('status() | NATS reconnected', { server: s.data });
      }
    }
  }

  /** Whether the connection is up now. */
  get connected(): boolean {
    return this.connectedNow && !!this.nc && !this.nc.isClosed();
  }

  /** Readiness check: ok when connected, with the reason otherwise. */
  health(): { ok: boolean; reason?: string } {
    if (this.connected) return { ok: true };
    return {
      ok: false,
      reason: this.nc
        ? (this.lastError ?? 'NATS disconnected')
        : `connecting to ${this.opts.servers.join(',')}`,
    };
  }

  /** Resolves once the first connection is up. */
  waitUntilConnected(): Promise<void> {
    if (this.nc) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The underlying connection (JetStream helpers use it). Throws UNAVAILABLE before connecting. */
  get connection(): NatsConnection {
    if (!this.nc) throw new MessagingError('UNAVAILABLE', 'not connected to NATS yet', true);
    return this.nc;
  }

  /** Adds a subscription (now if connected, else once connected); returns its removal. */
  private register(reg: Registration): () => void {
    let sub: Subscription | undefined;
    const entry: Registration = (nc) => (sub = reg(nc));
    this.registrations.push(entry);
    if (this.nc) this.subscriptions.push(entry(this.nc));
    return () => {
      const i = this.registrations.indexOf(entry);
      if (i >= 0) this.registrations.splice(i, 1);
      if (!sub) return;
      const j = this.subscriptions.indexOf(sub);
      if (j >= 0) this.subscriptions.splice(j, 1);
      sub.unsubscribe();
      sub = undefined;
    };
  }

  /**
   * Serves a request contract: validates the request, runs the handler inside the caller's trace
   * (a SERVER span) and correlation id, validates the response, replies with an envelope. Invalid
   * input gets a `BAD_REQUEST` reply and a log line; nothing a caller sends can crash the process.
   * Returns a function that stops serving (e.g. a per-room subject when the room closes).
   */
  serve<C extends RequestContract>(
    contract: C,
    handler: (req: RequestOf<C>, meta: HandlerMeta) => Promise<ResponseOf<C>> | ResponseOf<C>,
    opts: { queue?: string | false; tokens?: string[] } = {},
  ): () => void {
    const subject = subjectWith(contract.subject, opts.tokens, true);
    const queue = opts.queue === false ? undefined : (opts.queue ?? this.opts.queue);
    return this.register((nc) =>
      nc.subscribe(subject, {
        queue,
        callback: (err, msg) => {
          if (err) {
            this.opts.logger.error('serve() | subscription error', { subject, err: err.message });
            return;
          }
          this.handleRequest(contract, handler, msg);
        },
      }),
    );
  }

  /**
   * Handles one request. Deliberately not `async`: a synchronous handler is answered in the same
   * tick without creating promises (each costs an async-hook call while tracing is on), which is
   * what keeps this layer's overhead over a raw nats.js request small.
   */
  private handleRequest<C extends RequestContract>(
    contract: C,
    handler: (req: RequestOf<C>, meta: HandlerMeta) => Promise<ResponseOf<C>> | ResponseOf<C>,
    msg: Msg,
  ): void {
    const started = performance.now();
    let parent = contextFromTraceFields(ROOT_CONTEXT, traceFieldsOf(msg));
    let correlationId = getCorrelationId(parent);
    if (!correlationId) {
      correlationId = newCorrelationId();
      parent = setCorrelationId(parent, correlationId);
    }
    const span = tracer().startSpan(
      `${contract.subject} process`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': msg.subject,
          'parley.correlation_id': correlationId,
        },
      },
      parent,
    );
    const finish = (envelope: ReplyEnvelope, outcome: string): void => {
      if (msg.reply) {
        try {
          msg.respond(encodeJson(envelope));
        } catch (err) {
          this.opts.logger.error('serve() | cannot send reply', {
            subject: msg.subject,
            err: (err as Error).message,
          });
        }
      }
      const ended = performance.now();
      // nats.js writes the reply in a microtask it queued in respond(); queueing the bookkeeping
      // after it puts the reply on the wire first. The span keeps the real end time.
      queueMicrotask(() => {
        const seconds = (ended - started) / 1000;
        if (outcome === 'ok' && this.opts.logger.isDebugEnabled()) {
          this.opts.logger.debug('serve() | request handled', {
            subject: msg.subject,
            duration_ms: Math.round(seconds * 1e4) / 10,
          });
        }
        span.end(ended);
        this.opts.metrics?.natsDuration.observe(
          { subject: contract.subject, role: 'server', outcome },
          seconds,
        );
      });
    };
    const fail = (err: unknown): void => {
      const body: ErrorBody = toErrorBody(err);
      recordError(span, err);
      this.opts.logger.log(
        body.code === 'INTERNAL' ? 'error' : 'warn',
        'serve() | request failed',
        {
          subject: msg.subject,
          code: body.code,
          reason: body.message,
          ...(body.code === 'INTERNAL' && err instanceof Error
            ? { err: err.message, stack: err.stack }
            : {}),
        },
      );
      finish({ ok: false, error: body }, body.code);
    };
    const succeed = (result: unknown): void => {
      const checked = contract.response.safeParse(result);
      if (!checked.success) {
        this.opts.logger.error('serve() | handler produced an invalid response', {
          subject: contract.subject,
          issues: summarizeIssues(checked.error.issues),
        });
        fail(new MessagingError('INTERNAL', 'handler produced an invalid response'));
        return;
      }
      finish({ ok: true, data: checked.data }, 'ok');
    };
    // Logs written by `fail`/`finish` and by the handler carry this span and correlation id.
    context.with(trace.setSpan(parent, span), () => {
      const codec = contract.requestCodec;
      let raw: unknown;
      try {
        raw = codec ? codec.decode(msg.data) : decodeJson(msg.data);
      } catch (err) {
        fail(
          new MessagingError(
            'BAD_REQUEST',
            codec
              ? `malformed ${contract.subject} request: ${(err as Error).message}`
              : 'payload is not valid JSON',
          ),
        );
        return;
      }
      const parsed = contract.request.safeParse(raw);
      if (!parsed.success) {
        this.opts.metrics?.natsInvalid.inc({ subject: contract.subject, role: 'server' });
        fail(
          new MessagingError(
            'BAD_REQUEST',
            `invalid ${contract.subject} request: ${summarizeIssues(parsed.error.issues)}`,
            false,
            parsed.error.issues,
          ),
        );
        return;
      }
      let result: Promise<ResponseOf<C>> | ResponseOf<C>;
      try {
        result = handler(parsed.data as RequestOf<C>, handlerMeta(msg, correlationId));
      } catch (err) {
        fail(err);
        return;
      }
      if (isThenable(result)) {
        result.then(
          (r) => context.with(trace.setSpan(parent, span), () => succeed(r)),
          (err: unknown) => context.with(trace.setSpan(parent, span), () => fail(err)),
        );
      } else {
        succeed(result);
      }
    });
  }

  /**
   * Sends a request and waits for the typed response. Throws {@link MessagingError}:
   * `BAD_REQUEST` (payload invalid, not sent), `TIMEOUT`, `NO_RESPONDERS`, `UNAVAILABLE`,
   * `BAD_RESPONSE`, or the server's own code (with `remote: true`).
   */
  async request<C extends RequestContract>(
    contract: C,
    payload: RequestOf<C>,
    opts: RequestOptions = {},
  ): Promise<ResponseOf<C>> {
    const started = performance.now();
    const subject = subjectWith(contract.subject, opts.tokens);
    const timeout = opts.timeoutMs ?? contract.timeoutMs ?? this.opts.defaultTimeoutMs ?? 5000;
    const ctx = context.active();
    let correlationId = getCorrelationId(ctx);
    if (!isValidCorrelationId(correlationId)) correlationId = newCorrelationId();
    const span = tracer().startSpan(
      `${contract.subject} request`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'messaging.system': 'nats',
          'messaging.destination.name': subject,
          'messaging.operation.type': 'send',
          'parley.correlation_id': correlationId,
        },
      },
      ctx,
    );
    let outcome = 'ok';
    // The caller's code does not run inside this span, so the context is only used to inject
    // headers: no context.with() and as few promises as possible on this hot path.
    try {
      const parsed = contract.request.safeParse(payload);
      if (!parsed.success) {
        throw new MessagingError(
          'BAD_REQUEST',
          `invalid ${contract.subject} request: ${summarizeIssues(parsed.error.issues)}`,
          false,
          parsed.error.issues,
        );
      }
      if (!this.nc || !this.inbox || this.nc.isClosed())
        throw new MessagingError('UNAVAILABLE', 'not connected to NATS', true);
      const headers = traceHeaders(traceFields(ctx, span.spanContext(), correlationId));
      const body = contract.requestCodec
        ? contract.requestCodec.encode(parsed.data)
        : encodeJson(parsed.data);
      const reply = await this.inbox.request(subject, body, headers, timeout);
      let raw: unknown;
      try {
        raw = decodeJson(reply.data);
      } catch {
        throw new MessagingError('BAD_RESPONSE', `reply on ${subject} is not JSON`);
      }
      const data = contract.response.safeParse(replyData(raw, subject));
      if (!data.success) {
        throw new MessagingError(
          'BAD_RESPONSE',
          `invalid ${contract.subject} response: ${summarizeIssues(data.error.issues)}`,
        );
      }
      return data.data as ResponseOf<C>;
    } catch (err) {
      outcome = err instanceof MessagingError ? err.code : 'INTERNAL';
      recordError(span, err);
      throw err;
    } finally {
      span.end();
      this.opts.metrics?.natsDuration.observe(
        { subject: contract.subject, role: 'client', outcome },
        (performance.now() - started) / 1000,
      );
    }
  }

  /** Publishes an event after validating it; trace context and correlation id go in headers. */
  publish<C extends EventContract>(
    contract: C,
    payload: PayloadOf<C>,
    opts: { tokens?: string[] } = {},
  ): void {
    const subject = subjectWith(contract.subject, opts.tokens);
    const parsed = contract.payload.safeParse(payload);
    if (!parsed.success) {
      throw new MessagingError(
        'BAD_REQUEST',
        `invalid ${contract.subject} event: ${summarizeIssues(parsed.error.issues)}`,
        false,
        parsed.error.issues,
      );
    }
    if (!this.nc || this.nc.isClosed())
      throw new MessagingError('UNAVAILABLE', 'not connected to NATS', true);
    const span = tracer().startSpan(`${contract.subject} publish`, {
      kind: SpanKind.PRODUCER,
      attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject },
    });
    const headers = traceHeaders(traceFields(context.active(), span.spanContext()));
    this.nc.publish(subject, encodeJson(parsed.data), { headers });
    span.end();
  }

  /**
   * Subscribes to an event; invalid payloads are logged and dropped. The handler runs inside the
   * publisher's trace (a CONSUMER span) and correlation id. Returns an unsubscribe function.
   */
  subscribe<C extends EventContract>(
    contract: C,
    handler: (payload: PayloadOf<C>, meta: HandlerMeta) => Promise<void> | void,
    opts: { tokens?: string[]; queue?: string } = {},
  ): () => void {
    const subject = subjectWith(contract.subject, opts.tokens, true);
    let cancelled = false;
    const unregister = this.register((nc) =>
      nc.subscribe(subject, {
        queue: opts.queue,
        callback: (err, msg) => {
          if (err || cancelled) return;
          void this.handleEvent(contract, handler, msg);
        },
      }),
    );
    return () => {
      cancelled = true;
      unregister();
    };
  }

  private async handleEvent<C extends EventContract>(
    contract: C,
    handler: (payload: PayloadOf<C>, meta: HandlerMeta) => Promise<void> | void,
    msg: Msg,
  ): Promise<void> {
    let parent = contextFromTraceFields(context.active(), traceFieldsOf(msg));
    let correlationId = getCorrelationId(parent);
    if (!correlationId) {
      correlationId = newCorrelationId();
      parent = setCorrelationId(parent, correlationId);
    }
    const span = tracer().startSpan(
      `${contract.subject} receive`,
      {
        kind: SpanKind.CONSUMER,
        attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject },
      },
      parent,
    );
    await context.with(trace.setSpan(parent, span), async () => {
      try {
        let raw: unknown;
        try {
          raw = decodeJson(msg.data);
        } catch {
          throw new MessagingError('BAD_REQUEST', 'payload is not valid JSON');
        }
        const parsed = contract.payload.safeParse(raw);
        if (!parsed.success) {
          this.opts.metrics?.natsInvalid.inc({ subject: contract.subject, role: 'consumer' });
          throw new MessagingError(
            'BAD_REQUEST',
            `invalid ${contract.subject} event: ${summarizeIssues(parsed.error.issues)}`,
          );
        }
        await handler(parsed.data as PayloadOf<C>, handlerMeta(msg, correlationId));
      } catch (err) {
        recordError(span, err);
        this.opts.logger.warn('subscribe() | event dropped', {
          subject: msg.subject,
          err: (err as Error).message,
        });
      } finally {
        span.end();
      }
    });
  }

  /** Drains subscriptions and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    try {
      await nc.drain();
    } catch {
      await nc.close().catch(() => undefined);
    }
  }
}

interface PendingRequest {
  resolve: (msg: Msg) => void;
  reject: (err: MessagingError) => void;
  timer: ReturnType<typeof setTimeout>;
  subject: string;
}

/**
 * Request/reply over one wildcard inbox subscription per connection, as nats.js's own `request()`
 * does, minus what that costs per call and this layer has no use for: a RequestOne with a token
 * from nuid, a deferred and a timer promise raced against each other, and a NatsError (with its
 * captured stack) built when every settled request is cancelled. Failures are MessagingErrors
 * directly; a reply to a request that already timed out is dropped.
 */
class ReplyInbox {
  private readonly prefix = `${createInbox()}.`;
  private readonly pending = new Map<string, PendingRequest>();
  private next = 0;
  private sub: Subscription;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
  ) {
    this.sub = this.subscribe();
  }

  private subscribe(): Subscription {
    return this.nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => this.dispatch(err, msg),
    });
  }

  /** Publishes a request with a reply subject in the inbox; settles with the reply or an error. */
  request(subject: string, data: Uint8Array, headers: MsgHdrs, timeout: number): Promise<Msg> {
    // A subscription error (e.g. a permission violation) closes the inbox; open it again.
    if (this.sub.isClosed() && !this.nc.isClosed() && !this.nc.isDraining())
      this.sub = this.subscribe();
    const token = (this.next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new MessagingError('TIMEOUT', `no reply on ${subject} within ${timeout} ms`, true));
      }, timeout);
      this.pending.set(token, { resolve, reject, timer, subject });
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(mapNatsError(err as NatsError, subject, timeout));
      }
    });
  }

  /** Fails every pending request (the connection closed). */
  rejectAll(err: MessagingError): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private dispatch(err: NatsError | null, msg: Msg): void {
    if (err) {
      this.logger.error('request() | reply inbox failed', { err: err.message });
      this.rejectAll(mapNatsError(err, 'the reply inbox', 0));
      return;
    }
    const token = msg.subject.slice(this.prefix.length);
    const p = this.pending.get(token);
    if (!p) return;
    this.pending.delete(token);
    clearTimeout(p.timer);
    // The server answers a request nobody subscribes to with an empty 503 status message.
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      p.reject(new MessagingError('NO_RESPONDERS', `no service is serving ${p.subject}`, true));
    } else {
      p.resolve(msg);
    }
  }
}

/**
 * The data of a reply envelope; throws the remote error of an error envelope, BAD_RESPONSE when
 * the reply is no envelope. A success envelope (`{ ok: true, data }`, data unknown) is recognised
 * without running the envelope schema, which only the error branch needs.
 */
function replyData(raw: unknown, subject: string): unknown {
  if (
    raw !== null &&
    typeof raw === 'object' &&
    (raw as { ok?: unknown }).ok === true &&
    'data' in raw
  ) {
    return (raw as { data: unknown }).data;
  }
  const env = ReplyEnvelope.safeParse(raw);
  if (!env.success)
    throw new MessagingError('BAD_RESPONSE', `reply on ${subject} is not a Parley envelope`);
  if (!env.data.ok) throw MessagingError.fromBody(env.data.error);
  return env.data.data;
}

/** Handler meta whose `headers` are decoded only if the handler reads them. */
function handlerMeta(msg: Msg, correlationId: string): HandlerMeta {
  return {
    subject: msg.subject,
    correlationId,
    get headers() {
      return msg.headers;
    },
  };
}

function isThenable<T>(v: unknown): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Default connection name. */
export function connectionName(service: string, nodeId: string): string {
  return `${service}@${nodeId || hostname()}`;
}

function mapNatsError(err: NatsError, subject: string, timeout: number): MessagingError {
  switch (err.code) {
    case ErrorCode.Timeout:
      return new MessagingError('TIMEOUT', `no reply on ${subject} within ${timeout} ms`, true);
    case ErrorCode.NoResponders:
      return new MessagingError('NO_RESPONDERS', `no service is serving ${subject}`, true);
    case ErrorCode.MaxPayloadExceeded:
      return new MessagingError(
        'BAD_REQUEST',
        `request on ${subject} exceeds the NATS max payload`,
      );
    case ErrorCode.ConnectionClosed:
    case ErrorCode.ConnectionDraining:
    case ErrorCode.Disconnect:
      return new MessagingError('UNAVAILABLE', `NATS connection unavailable (${err.code})`, true);
    default:
      return new MessagingError(
        'UNAVAILABLE',
        `NATS request on ${subject} failed: ${err.message}`,
        true,
      );
  }
}

/** Compact, bounded description of zod issues for messages and logs. */
export function summarizeIssues(
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>,
): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ')
    .slice(0, 500);
}
