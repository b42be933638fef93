import { Module } from '@nestjs/common';
import { PiperController } from './piper.controller';
import { SpeechController } from './speech.controller';
import { SpeechHandlers } from './speech.handlers';
import { SpeechResponder } from './speech.responder';
import { TtsMetrics } from './tts.metrics';
import { TtsService } from './tts.service';

/**
 * tts: voices and the synthesis pipeline (`TtsService`, logic in `@parley/tts-engine`), Parley's
 * HTTP API (`SpeechController`), Piper's HTTP API (`PiperController`), the NATS API
 * (`SpeechHandlers`) and metrics. The runtime provides health, metrics and `tts.node.describe`.
 */
@Module({
  controllers: [SpeechController, PiperController],
  providers: [TtsMetrics, TtsService, SpeechResponder, SpeechHandlers],
})
export class TtsModule {}
