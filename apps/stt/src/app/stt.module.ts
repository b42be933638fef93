import { type MiddlewareConsumer, Module, type NestModule } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import type { SttConfig } from '@parley/config';
import { CONFIG } from '@parley/runtime';
import { InferenceService } from './inference.service';
import { JobsController } from './jobs.controller';
import { JobsHandlers } from './jobs.handlers';
import { JobsService } from './jobs.service';
import { WhisperController, markArrival } from './whisper.controller';
import { WorkerRegistry } from './workers.registry';

/**
 * stt (orchestration): the worker registry (heartbeats), batch jobs (`JobsService` over JetStream;
 * HTTP `JobsController`, NATS `JobsHandlers`) and whisper.cpp server's API (`WhisperController`:
 * `/inference` via the realtime lane or a job, `/load`, `/health`). The runtime provides `/ready`,
 * `/metrics` and `stt.node.describe`; `/health` is the whisper.cpp one (ownHealthRoute).
 */
@Module({
  imports: [
    MulterModule.registerAsync({
      inject: [CONFIG],
      useFactory: (config: SttConfig) => ({
        limits: {
          fileSize: config.STT_MAX_UPLOAD_BYTES,
          files: 1,
          fields: 64,
          fieldSize: 64 * 1024,
        },
      }),
    }),
  ],
  controllers: [WhisperController, JobsController],
  providers: [WorkerRegistry, JobsService, InferenceService, JobsHandlers],
})
export class SttModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Before multer reads the upload: /inference's Server-Timing tells upload parsing apart.
    consumer.apply(markArrival).forRoutes('inference');
  }
}
