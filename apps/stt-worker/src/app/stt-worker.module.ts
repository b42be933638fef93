import { Module } from '@nestjs/common';
import { BatchConsumer } from './batch.consumer';
import { EngineHost } from './engine.host';
import { RealtimeHandlers } from './realtime.handlers';
import { WorkerMetrics } from './worker.metrics';

/**
 * stt-worker: one whisper.cpp model loaded once (`EngineHost`, which also announces the worker and
 * heartbeats), the realtime lane over NATS (`RealtimeHandlers`: utterances and streams, in the
 * `stt-worker` queue group) and the batch lane (`BatchConsumer`: jobs pulled from JetStream).
 * Logic lives in `@parley/stt-engine`; the runtime provides health, metrics and describe.
 */
@Module({
  providers: [WorkerMetrics, EngineHost, RealtimeHandlers, BatchConsumer],
})
export class SttWorkerModule {}
