/**
 * Serves a request contract on `<subject>.<roomId>` for as long as a room lives on this node, and
 * stops serving it when the room closes — so a request for a room that is live nowhere gets
 * `NO_RESPONDERS` at once instead of a timeout or a wrong node's answer.
 *
 * Usage:
 * ```ts
 * const stop = serveRoomRequest(messaging, voiceContracts.say, room.id, (req, meta) => …, logger);
 * room.on('closed', stop);
 * ```
 *
 * Same behaviour as `NatsMessaging.serve` (validation both ways, caller's trace and correlation
 * id, `{code,message}` errors, envelope), which registers for the process lifetime and cannot be
 * undone; if `serve` ever returns an unsubscribe function, this shim can go.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { ReplyEnvelope, RequestContract, RequestOf, ResponseOf } from '@parley/contracts';
import {
  decodeJson,
  encodeJson,
  type HandlerMeta,
  MessagingError,
  type NatsMessaging,
  natsHeaderGetter,
  subjectWith,
  summarizeIssues,
  toErrorBody,
} from '@parley/messaging';
import {
  getCorrelationId,
  type Logger,
  newCorrelationId,
  recordError,
  setCorrelationId,
  tracer,
} from '@parley/observability';
import type { Msg } from 'nats';

/** Serves `contract` on `<subject>.<roomId>` (no queue group); returns the unsubscribe. */
export function serveRoomRequest<C extends RequestContract>(
  messaging: NatsMessaging,
  contract: C,
  roomId: string,
  handler: (req: RequestOf<C>, meta: HandlerMeta) => Promise<ResponseOf<C>> | ResponseOf<C>,
  logger: Logger,
): () => void {
  const subject = subjectWith(contract.subject, [roomId]);
  const sub = messaging.connection.subscribe(subject, {
    callback: (err, msg) => {
      if (err) {
        logger.error('serveRoomRequest() | subscription error', { subject, err: err.message });
        return;
      }
      void handle(contract, handler, msg, logger);
    },
  });
  let done = false;
  return () => {
    if (done) return;
    done = true;
    sub.unsubscribe();
  };
}

async function handle<C extends RequestContract>(
  contract: C,
  handler: (req: RequestOf<C>, meta: HandlerMeta) => Promise<ResponseOf<C>> | ResponseOf<C>,
  msg: Msg,
  logger: Logger,
): Promise<void> {
  let parent = propagation.extract(ROOT_CONTEXT, msg.headers, natsHeaderGetter);
  const correlationId = getCorrelationId(parent) ?? newCorrelationId();
  parent = setCorrelationId(parent, correlationId);
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
  await context.with(trace.setSpan(parent, span), async () => {
    let envelope: ReplyEnvelope;
    try {
      let raw: unknown;
      try {
        raw = decodeJson(msg.data);
      } catch {
        throw new MessagingError('BAD_REQUEST', 'payload is not valid JSON');
      }
      const parsed = contract.request.safeParse(raw);
      if (!parsed.success) {
        throw new MessagingError(
          'BAD_REQUEST',
          `invalid ${contract.subject} request: ${summarizeIssues(parsed.error.issues)}`,
        );
      }
      const result = await handler(parsed.data as RequestOf<C>, {
        subject: msg.subject,
        headers: msg.headers,
        correlationId,
      });
      const checked = contract.response.safeParse(result);
      if (!checked.success) {
        logger.error('serveRoomRequest() | handler produced an invalid response', {
          subject: contract.subject,
          issues: summarizeIssues(checked.error.issues),
        });
        throw new MessagingError('INTERNAL', 'handler produced an invalid response');
      }
      envelope = { ok: true, data: checked.data };
    } catch (err) {
      const body = toErrorBody(err);
      recordError(span, err);
      logger.log(
        body.code === 'INTERNAL' ? 'error' : 'warn',
        'serveRoomRequest() | request failed',
        {
          subject: msg.subject,
          code: body.code,
          reason: body.message,
          ...(body.code === 'INTERNAL' && err instanceof Error ? { err: err.message } : {}),
        },
      );
      envelope = { ok: false, error: body };
    }
    try {
      if (msg.reply) msg.respond(encodeJson(envelope));
    } catch (err) {
      logger.error('serveRoomRequest() | cannot send reply', {
        subject: msg.subject,
        err: (err as Error).message,
      });
    } finally {
      span.end();
    }
  });
}
