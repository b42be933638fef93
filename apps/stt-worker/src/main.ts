import 'reflect-metadata';
import { sttWorkerEnv } from '@parley/config';
import { main } from '@parley/runtime';
import { SttWorkerModule } from './app/stt-worker.module';

main({
  service: 'stt-worker',
  envSchema: sttWorkerEnv,
  module: SttWorkerModule,
  http: (c) => ({ host: c.STT_WORKER_HTTP_HOST, port: c.STT_WORKER_HTTP_PORT }),
});
