import { BaseRpcContext, type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { contractForSubject } from '@parley/contracts';
import { lastValueFrom } from 'rxjs';
import type { HandlerMeta, NatsMessaging } from '../NatsMessaging';

/** Context handed to `@MessagePattern` handlers (`@Ctx() ctx: NatsContractContext`). */
export class NatsContractContext extends BaseRpcContext<[HandlerMeta]> {
  /** Subject, headers and correlation id of the message. */
  get meta(): HandlerMeta {
    return this.args[0];
  }
}

/**
 * A Nest microservice transport over {@link NatsMessaging}: `@MessagePattern(contract.subject)`
 * handlers are served with the contract's validation, tracing, deadlines and typed errors, in the
 * service's queue group. A pattern without a contract in `@parley/contracts` fails start-up, so
 * subjects can only come from contracts.
 */
export class NatsContractTransport extends Server implements CustomTransportStrategy {
  constructor(private readonly messaging: NatsMessaging) {
    super();
  }

  listen(callback: (...optionalParams: unknown[]) => unknown): void {
    for (const [pattern, handler] of this.messageHandlers) {
      const contract = contractForSubject(pattern);
      if (!contract) {
        callback(new Error(`@MessagePattern('${pattern}') has no contract in @parley/contracts`));
        return;
      }
      if (contract.kind === 'request') {
        this.messaging.serve(contract, async (req, meta) => {
          const out = this.transformToObservable(
            await handler(req, new NatsContractContext([meta])),
          );
          return (await lastValueFrom(out)) as never;
        });
      } else {
        this.messaging.subscribe(contract, async (payload, meta) => {
          const out = this.transformToObservable(
            await handler(payload, new NatsContractContext([meta])),
          );
          await lastValueFrom(out, { defaultValue: undefined });
        });
      }
    }
    callback();
  }

  close(): void {
    // The messaging connection is owned (and drained) by the runtime.
  }

  on(): void {
    // No transport-level events to expose: connection status is in /ready and the logs.
  }

  unwrap<T>(): T {
    return this.messaging as T;
  }
}
