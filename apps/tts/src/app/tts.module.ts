import { Module } from '@nestjs/common';

/** tts: the runtime provides health, metrics and `tts.node.describe`; features come in their own issues. */
@Module({})
export class TtsModule {}
