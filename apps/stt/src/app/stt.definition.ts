import { sttEnv } from '@parley/config';
import type { ServiceDefinition } from '@parley/runtime';
import { SttModule } from './stt.module';

/** How the runtime runs the STT orchestrator (`main.ts`, and in-process in tests). */
export const sttService: ServiceDefinition<typeof sttEnv> = {
  service: 'stt',
  envSchema: sttEnv,
  module: SttModule,
  http: (c) => ({ host: c.STT_HTTP_HOST, port: c.STT_HTTP_PORT }),
  // whisper.cpp's /health (200 only with a loaded model somewhere) replaces the liveness one.
  ownHealthRoute: true,
};
