import { sttWorkerEnv } from '@parley/config';
import type { ServiceDefinition } from '@parley/runtime';
import { SttWorkerModule } from './stt-worker.module';

/** How the runtime runs an STT worker (`main.ts`, and in-process in tests). */
export const sttWorkerService: ServiceDefinition<typeof sttWorkerEnv> = {
  service: 'stt-worker',
  envSchema: sttWorkerEnv,
  module: SttWorkerModule,
  http: (c) => ({ host: c.STT_WORKER_HTTP_HOST, port: c.STT_WORKER_HTTP_PORT }),
};
