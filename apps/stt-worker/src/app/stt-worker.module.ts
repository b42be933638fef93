import { Module } from '@nestjs/common';

/** stt-worker: the runtime provides health, metrics and `stt-worker.node.describe`; features come in their own issues. */
@Module({})
export class SttWorkerModule {}
