import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  Inject,
} from '@nestjs/common';
import type { ErrorBody } from '@parley/contracts';
import { toErrorBody } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import type { Response } from 'express';
import { throwError } from 'rxjs';
import { statusOf } from './errors';
import { LOGGER } from './tokens';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'BAD_REQUEST',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'BAD_REQUEST',
  429: 'RATE_LIMITED',
};

/**
 * The one error filter of every app: HTTP errors become `{ code, message }` with the status of
 * their code; RPC errors pass through untouched so the NATS transport keeps their code.
 */
@Catch()
export class ParleyExceptionFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost) {
    if (host.getType() === 'rpc') return throwError(() => exception);
    const res = host.switchToHttp().getResponse<Response>();
    let body: ErrorBody;
    let status: number;
    if (exception instanceof HttpException) {
      status = exception.getStatus();
      const r = exception.getResponse();
      const message =
        typeof r === 'string'
          ? r
          : String((r as { message?: unknown }).message ?? exception.message);
      const code =
        typeof (r as { code?: unknown }).code === 'string'
          ? (r as { code: string }).code
          : (CODE_BY_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'BAD_REQUEST'));
      body = { code, message: Array.isArray(message) ? message.join('; ') : message };
    } else if ((exception as { type?: unknown })?.type === 'entity.parse.failed') {
      status = 400;
      body = { code: 'BAD_REQUEST', message: 'request body is not valid JSON' };
    } else if ((exception as { type?: unknown })?.type === 'entity.too.large') {
      status = 413;
      body = { code: 'PAYLOAD_TOO_LARGE', message: 'request body too large' };
    } else {
      body = toErrorBody(exception);
      status = statusOf(exception, body);
    }
    if (status >= 500) {
      this.logger.error('filter() | request failed', {
        code: body.code,
        err: (exception as Error)?.message,
        stack: (exception as Error)?.stack,
      });
    }
    if (res.headersSent) return;
    if (
      body.code === 'RATE_LIMITED' &&
      typeof (exception as { retryAfterS?: unknown }).retryAfterS === 'number'
    ) {
      res.setHeader('Retry-After', String((exception as { retryAfterS: number }).retryAfterS));
    }
    res.status(status).json(body);
  }
}
