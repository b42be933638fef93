import { Module } from '@nestjs/common';
import { StatusController } from './status.controller';

/** Signaling: REST + WebSocket (rooms and tokens come with the signaling issue). */
@Module({ controllers: [StatusController] })
export class SignalingModule {}
