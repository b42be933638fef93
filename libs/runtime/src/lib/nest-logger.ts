import { WinstonLogger } from 'nest-winston';

// Nest's start-up chatter (one line per module and route) is useful when debugging, noise otherwise.
const CHATTY = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
  'NestMicroservice',
]);

/** nest-winston's logger, with Nest's start-up chatter demoted to debug. */
export class NestLogger extends WinstonLogger {
  override log(message: unknown, context?: string): unknown {
    if (context && CHATTY.has(context)) return this.debug?.(message, context);
    return super.log(message, context);
  }
}
