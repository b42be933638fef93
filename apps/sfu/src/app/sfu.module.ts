import { Module } from '@nestjs/common';
import { MediaApiHandlers } from './media-api.handlers';
import { MediaEventsPublisher } from './media-events.publisher';
import { MediaMetrics } from './media.metrics';
import { MediaService } from './media.service';

/**
 * sfu: mediasoup workers (`MediaService`), the NATS media API (`MediaApiHandlers`), its events
 * (`MediaEventsPublisher`) and Prometheus metrics (`MediaMetrics`). The media logic lives in
 * `@parley/media`; the runtime provides health, metrics and `sfu.node.describe`.
 */
@Module({ providers: [MediaService, MediaApiHandlers, MediaEventsPublisher, MediaMetrics] })
export class SfuModule {}
