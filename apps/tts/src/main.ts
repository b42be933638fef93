import 'reflect-metadata';
import { ttsEnv } from '@parley/config';
import { main } from '@parley/runtime';
import { TtsModule } from './app/tts.module';

main({
  service: 'tts',
  envSchema: ttsEnv,
  module: TtsModule,
  http: (c) => ({ host: c.TTS_HTTP_HOST, port: c.TTS_HTTP_PORT }),
  redis: (c) => ({ url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX }),
});
