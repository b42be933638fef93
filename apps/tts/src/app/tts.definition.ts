import { ttsEnv } from '@parley/config';
import type { ServiceDefinition } from '@parley/runtime';
import { TtsModule } from './tts.module';

/** How the runtime runs the TTS service (`main.ts`, and in-process in tests). */
export const ttsService: ServiceDefinition<typeof ttsEnv> = {
  service: 'tts',
  envSchema: ttsEnv,
  module: TtsModule,
  http: (c) => ({ host: c.TTS_HTTP_HOST, port: c.TTS_HTTP_PORT }),
  redis: (c) => ({ url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX }),
};
