import 'reflect-metadata';
import { sfuEnv } from '@parley/config';
import { main } from '@parley/runtime';
import { SfuModule } from './app/sfu.module';

main({
  service: 'sfu',
  envSchema: sfuEnv,
  module: SfuModule,
  http: (c) => ({ host: c.SFU_HTTP_HOST, port: c.SFU_HTTP_PORT }),
});
