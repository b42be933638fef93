import {
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Post,
  Req,
  Res,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor, NoFilesInterceptor } from '@nestjs/platform-express';
import { sttContracts } from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { LOGGER, MESSAGING, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import { SttError } from '@parley/stt-engine';
import type { NextFunction, Request, Response } from 'express';
import { render } from './formats';
import { type Upload, sendWhisperError, uploadBytes } from './http-errors';
import { InferenceService, parseInferenceFields } from './inference.service';
import { JobsService } from './jobs.service';
import { WorkerRegistry } from './workers.registry';

const ARRIVED = Symbol('arrivedAt');
type Marked = Request & { [ARRIVED]?: number };

/** Middleware: when the request reached the app, before its body was read. */
export function markArrival(req: Request, _res: Response, next: NextFunction): void {
  (req as Marked)[ARRIVED] = performance.now();
  next();
}

/**
 * whisper.cpp server's HTTP API on the STT port, so its clients work unchanged:
 * `POST /inference` (multipart `file` + fields), `POST /load` (multipart `model`: a path every
 * worker loads) and `GET /health` — `{"status":"ok"}` only when at least one worker has its model
 * loaded, 503 with the status otherwise (whisper.cpp says "loading model" while it loads).
 */
@Controller()
export class WhisperController {
  constructor(
    @Inject(InferenceService) private readonly inference: InferenceService,
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(WorkerRegistry) private readonly workers: WorkerRegistry,
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
  ) {}

  @Get('health')
  health(@Res() res: Response): void {
    const h = this.workers.table.health();
    // whisper.cpp clients read `status` (and the HTTP status); the rest is Parley's liveness info.
    const who = {
      service: this.info.service,
      nodeId: this.info.nodeId,
      version: this.info.version,
    };
    res
      .status(h.ok ? 200 : 503)
      .json({ status: h.status, workers: h.workers, ready: h.ready, ...who });
  }

  @Post('inference')
  @HttpCode(200)
  @UseInterceptors(FileInterceptor('file'))
  async infer(
    @UploadedFile() file: Upload | undefined,
    @Body() body: Record<string, unknown> | undefined,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    try {
      if (!file) throw new SttError('BAD_REQUEST', "no 'file' field in the request");
      const params = parseInferenceFields(body ?? {});
      const t0 = performance.now();
      const decoded = await this.jobs.decode(uploadBytes(file));
      const t1 = performance.now();
      const t = await this.inference.transcribe(decoded, params);
      const t2 = performance.now();
      const out = render(t, params.format);
      res.setHeader('x-parley-lane', t.lane);
      if (t.timing) {
        // Where the time went, for clients and benchmarks (W3C Server-Timing): reading the
        // multipart upload, decoding the audio, the lane's round trip (NATS + worker), the
        // worker's part and its engine call, rendering.
        const arrived = (req as Marked)[ARRIVED];
        res.setHeader(
          'Server-Timing',
          [
            ...(arrived !== undefined ? [`upload;dur=${(t0 - arrived).toFixed(1)}`] : []),
            `decode;dur=${(t1 - t0).toFixed(1)}`,
            `lane;dur=${(t2 - t1).toFixed(1)}`,
            `worker;dur=${t.timing.workerMs.toFixed(1)}`,
            `engine;dur=${t.timing.engineMs.toFixed(1)}`,
            `render;dur=${(performance.now() - t2).toFixed(1)}`,
          ].join(', '),
        );
      }
      res.status(200).type(out.contentType).send(out.body);
    } catch (err) {
      sendWhisperError(res, err, this.logger);
    }
  }

  @Post('load')
  @HttpCode(200)
  @UseInterceptors(NoFilesInterceptor())
  async load(
    @Body() body: Record<string, unknown> | undefined,
    @Res() res: Response,
  ): Promise<void> {
    try {
      const model = body?.['model'];
      if (typeof model !== 'string' || !model) {
        throw new SttError('BAD_REQUEST', "no 'model' field in the request");
      }
      const workers = this.workers.table.live();
      if (workers.length === 0) throw new SttError('NO_WORKER', 'no STT worker is running');
      // Every worker, in parallel: a fleet on mixed models would answer inconsistently.
      const results = await Promise.allSettled(
        workers.map((w) =>
          this.messaging.request(sttContracts.modelLoad, { model }, { tokens: [w.info.workerId] }),
        ),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      this.logger.info('load() | model loaded on every worker', { model, workers: workers.length });
      res.status(200).type('text/plain').send('Load was successful!');
    } catch (err) {
      sendWhisperError(res, err, this.logger);
    }
  }
}
