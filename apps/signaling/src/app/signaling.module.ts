import { Module } from '@nestjs/common';
import { DemoController } from './demo.controller';
import { StatusController } from './status.controller';

/** Signaling: REST + WebSocket (rooms and tokens come with the signaling issue). */
@Module({ controllers: [DemoController, StatusController] })
export class SignalingModule {}
