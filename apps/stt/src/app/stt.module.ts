import { Module } from '@nestjs/common';

/** stt: the runtime provides health, metrics and `stt.node.describe`; features come in their own issues. */
@Module({})
export class SttModule {}
