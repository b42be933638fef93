import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { sttContracts } from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import { MESSAGING } from '@parley/runtime';
import { SttError } from '@parley/stt-engine';
import { JobsService } from './jobs.service';

/** The batch API over NATS (queue group `stt`): `stt.job.submit`, `stt.job.get`, `stt.job.cancel`. */
@Injectable()
export class JobsHandlers implements OnModuleInit {
  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(JobsService) private readonly jobs: JobsService,
  ) {}

  onModuleInit(): void {
    this.messaging.serve(sttContracts.jobSubmit, (req) => {
      if (req.audio.length === 0) throw new SttError('EMPTY_AUDIO', 'audio is empty');
      return this.jobs.submit({
        file: req.audio,
        filename: req.filename,
        options: req.options ?? {},
        jobId: req.jobId,
      });
    });
    this.messaging.serve(sttContracts.jobGet, (req) =>
      this.jobs.get(req.jobId, req.includeResult ?? false),
    );
    this.messaging.serve(sttContracts.jobCancel, (req) => this.jobs.cancel(req.jobId));
  }
}
