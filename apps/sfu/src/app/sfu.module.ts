import { Module } from '@nestjs/common';

/** sfu: the runtime provides health, metrics and `sfu.node.describe`; features come in their own issues. */
@Module({})
export class SfuModule {}
