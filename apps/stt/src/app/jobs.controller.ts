import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Req,
  Res,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import { SttJobId, SttJobOptions, type SttJobStatus, SttResponseFormat } from '@parley/contracts';
import type { Logger } from '@parley/observability';
import { LOGGER } from '@parley/runtime';
import { SttError } from '@parley/stt-engine';
import type { Request, Response } from 'express';
import { render } from './formats';
import { type Upload, uploadBytes } from './http-errors';
import { JobsService } from './jobs.service';

function jobIdOf(raw: string): string {
  const r = SttJobId.safeParse(raw);
  if (!r.success) throw new SttError('NOT_FOUND', `no job ${raw.slice(0, 80)}`);
  return r.data;
}

/** Job options from multipart form fields (strings). */
export function optionsFromForm(body: Record<string, unknown>): SttJobOptions {
  const raw: Record<string, unknown> = {};
  if (body['language'] !== undefined) raw['language'] = String(body['language']);
  if (body['prompt'] !== undefined) raw['prompt'] = String(body['prompt']);
  if (body['translate'] !== undefined) {
    raw['translate'] = ['true', '1', 'yes'].includes(String(body['translate']).toLowerCase());
  }
  if (body['temperature'] !== undefined) raw['temperature'] = Number(body['temperature']);
  const r = SttJobOptions.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    const field = i?.path.map(String).join('.') ?? '';
    throw new SttError(
      field === 'language' ? 'UNSUPPORTED_LANGUAGE' : 'BAD_OPTIONS',
      `invalid ${field || 'option'}: ${i?.message ?? 'rejected'}`,
    );
  }
  return r.data;
}

/**
 * Parley's batch API: `POST /v1/jobs` (multipart `file`, optional `language`, `prompt`,
 * `translate`, `temperature`, `id`) → 202 with the job; `GET /v1/jobs/:id` (state, progress,
 * result when completed); `GET /v1/jobs/:id/result?response_format=srt|vtt|text|json|verbose_json`;
 * `GET /v1/jobs/:id/events` (server-sent events: state, segments and progress in order, then
 * `completed`/`failed`/`cancelled`); `DELETE /v1/jobs/:id` (cancel).
 */
@Controller('v1/jobs')
export class JobsController {
  constructor(
    @Inject(JobsService) private readonly jobs: JobsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Post()
  @HttpCode(202)
  @UseInterceptors(FileInterceptor('file'))
  async submit(
    @UploadedFile() file: Upload | undefined,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<SttJobStatus> {
    if (!file) throw new SttError('BAD_REQUEST', "no 'file' field in the request");
    const form = body ?? {};
    const jobId = form['id'] === undefined ? undefined : jobIdOf(String(form['id']));
    return this.jobs.submit({
      file: uploadBytes(file),
      filename: file.originalname,
      options: optionsFromForm(form),
      jobId,
    });
  }

  @Get(':id')
  async get(@Param('id') id: string) {
    const { job, result } = await this.jobs.get(jobIdOf(id), true);
    return { ...job, ...(result ? { result } : {}) };
  }

  @Get(':id/result')
  async result(
    @Param('id') id: string,
    @Query('response_format') formatRaw: string | undefined,
    @Res() res: Response,
  ): Promise<void> {
    const format = SttResponseFormat.safeParse(formatRaw ?? 'json');
    if (!format.success) {
      throw new SttError(
        'BAD_OPTIONS',
        'response_format must be json, text, srt, vtt or verbose_json',
      );
    }
    const { job, result } = await this.jobs.get(jobIdOf(id), true);
    if (!result) throw new SttError('CONFLICT', `job ${job.jobId} is ${job.state}, not completed`);
    const out = render(
      {
        segments: result.segments,
        language: result.language,
        durationMs: result.durationMs,
        translate: result.translate,
        temperature: job.options.temperature,
      },
      format.data,
    );
    res.status(200).type(out.contentType).send(out.body);
  }

  @Get(':id/events')
  async events(@Param('id') id: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const jobId = jobIdOf(id);
    const ac = new AbortController();
    const stream = this.jobs.events(jobId, ac.signal);
    // The first event is read before the headers go out, so an unknown job is a plain 404.
    const first = await stream.next();
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => ac.abort());
    let n = 0;
    const send = (type: string, data: unknown) =>
      res.write(`id: ${n++}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    try {
      if (!first.done) send(first.value.type, first.value.data);
      for await (const e of stream) send(e.type, e.data);
    } catch (err) {
      if (!ac.signal.aborted) {
        this.logger.warn('events() | job event stream failed', {
          jobId,
          err: (err as Error).message,
        });
        send('error', { code: 'INTERNAL', message: 'event stream interrupted; reconnect' });
      }
    } finally {
      clearInterval(keepAlive);
      ac.abort();
      res.end();
    }
  }

  @Delete(':id')
  cancel(@Param('id') id: string): Promise<SttJobStatus> {
    return this.jobs.cancel(jobIdOf(id));
  }
}
