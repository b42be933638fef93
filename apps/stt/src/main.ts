import 'reflect-metadata';
import { sttEnv } from '@parley/config';
import { main } from '@parley/runtime';
import { SttModule } from './app/stt.module';

main({
  service: 'stt',
  envSchema: sttEnv,
  module: SttModule,
  http: (c) => ({ host: c.STT_HTTP_HOST, port: c.STT_HTTP_PORT }),
});
