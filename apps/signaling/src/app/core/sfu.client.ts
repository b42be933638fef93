import { Inject, Injectable } from '@nestjs/common';
import type { RequestContract, RequestOf, ResponseOf } from '@parley/contracts';
import { MessagingError, type NatsMessaging } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { LOGGER, MESSAGING } from '@parley/runtime';
import { SignalingError } from './errors';
import { NatsBatch } from './nats-batch';
import { SETTINGS, type SignalingSettings } from './settings';

// SFU-side codes that mean "the SFU cannot serve now", not "your request is wrong".
const SFU_DOWN = new Set(['NO_WORKER', 'WORKER_DIED', 'UNAVAILABLE', 'INTERNAL']);

/**
 * Signaling's side of the SFU media API: every call is directed at the node hosting the room
 * (`tokens: [nodeId]`) with signaling's own deadline. Transport failures (timeout, no responders,
 * NATS down, garbled reply) and SFU-side outages become `SFU_UNAVAILABLE` (retryable); the SFU's
 * own refusals (`NOT_FOUND`, `BAD_RTP_PARAMETERS`, ...) keep their code.
 */
@Injectable()
export class SfuClient {
  private readonly timeoutMs: number;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SETTINGS) settings: SignalingSettings,
    @Inject(NatsBatch) private readonly batch: NatsBatch,
  ) {
    this.timeoutMs = settings.config.SIGNALING_SFU_TIMEOUT_MS;
  }

  /**
   * Calls one SFU contract on a node (`nodeId` undefined: any node, queue group). Calls issued in
   * one event-loop turn leave in one NATS write ({@link NatsBatch}).
   */
  call<C extends RequestContract>(
    contract: C,
    payload: RequestOf<C>,
    nodeId: string | undefined,
  ): Promise<ResponseOf<C>> {
    const opts = {
      timeoutMs: Math.min(this.timeoutMs, contract.timeoutMs),
      ...(nodeId ? { tokens: [nodeId] } : {}),
    };
    return this.batch
      .run(() => this.messaging.request(contract, payload, opts))
      .catch((err: unknown) => {
        throw this.mapError(err, contract.subject, nodeId);
      });
  }

  /** Whether an error means the node itself is gone (the room must be placed elsewhere). */
  static nodeGone(err: unknown): boolean {
    return (err as { sfuCause?: string })?.sfuCause === 'NO_RESPONDERS';
  }

  /** Whether an error means the SFU no longer knows the entity (peer, transport, room). */
  static entityGone(err: unknown): boolean {
    const code = (err as { code?: string })?.code;
    return code === 'NOT_FOUND' || code === 'ROOM_CLOSED' || code === 'INVALID_STATE';
  }

  private mapError(err: unknown, subject: string, nodeId: string | undefined): Error {
    if (err instanceof MessagingError) {
      if (err.remote && !SFU_DOWN.has(err.code)) {
        return new SignalingError(err.code, err.message, err.retryable, err.details);
      }
      this.logger.warn('call() | SFU unavailable', {
        subject,
        node: nodeId,
        code: err.code,
        err: err.message,
      });
      const e = new SignalingError(
        'SFU_UNAVAILABLE',
        `media server unavailable (${err.code.toLowerCase()})`,
        true,
      );
      (e as { sfuCause?: string }).sfuCause = err.code;
      return e;
    }
    return err as Error;
  }
}
