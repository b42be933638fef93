import { Module } from '@nestjs/common';
import { MediaApiHandlers } from './media-api.handlers';
import { MediaEventsPublisher } from './media-events.publisher';
import { MediaMetrics } from './media.metrics';
import { MediaService } from './media.service';
import { SayService } from './voice/say.service';
import { TapService } from './voice/tap.service';
import { VoiceMetrics } from './voice/voice.metrics';

/**
 * sfu: mediasoup workers (`MediaService`), the NATS media API (`MediaApiHandlers`), its events
 * (`MediaEventsPublisher`) and Prometheus metrics (`MediaMetrics`); the voice loop (`voice/`):
 * live transcription tap (`TapService`) and speech into rooms (`SayService`). The media logic
 * lives in `@parley/media`; the runtime provides health, metrics and `sfu.node.describe`.
 */
@Module({
  providers: [
    MediaService,
    MediaApiHandlers,
    MediaEventsPublisher,
    MediaMetrics,
    VoiceMetrics,
    SayService,
    TapService,
  ],
})
export class SfuModule {}
