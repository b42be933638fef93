import 'reflect-metadata';
import { signalingEnv } from '@parley/config';
import { main } from '@parley/runtime';
import { SignalingModule } from './app/signaling.module';

main({
  service: 'signaling',
  envSchema: signalingEnv,
  module: SignalingModule,
  http: (c) => ({ host: c.SIGNALING_HTTP_HOST, port: c.SIGNALING_HTTP_PORT }),
  redis: (c) => ({ url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX }),
});
