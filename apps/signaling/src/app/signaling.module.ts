import { Module } from '@nestjs/common';
import type { SignalingConfig } from '@parley/config';
import { CONFIG } from '@parley/runtime';
import { Hub } from './core/hub.service';
import { EchoAgent } from './core/echo-agent.service';
import { NatsBatch } from './core/nats-batch';
import { VoiceService } from './core/voice.service';
import { PeerService } from './core/peer.service';
import { RateLimitService } from './core/rate-limit.service';
import { RedisLink } from './core/redis-link';
import { RoomService } from './core/room.service';
import { SETTINGS, buildSettings } from './core/settings';
import { SfuClient } from './core/sfu.client';
import { StateStore } from './core/state.store';
import { Sweeper } from './core/sweeper.service';
import { TokenService } from './core/token.service';
import { DemoController } from './demo.controller';
import { DocsController } from './rest/docs.controller';
import { RoomsController } from './rest/rooms.controller';
import { TokensController } from './rest/tokens.controller';
import { StatusController } from './status.controller';
import { WsGateway } from './ws/ws.gateway';
import { WsMetrics } from './ws/ws.metrics';

/**
 * Signaling: REST `/v1` (tokens, rooms, participants, OpenAPI at `/v1/docs`), the WebSocket
 * protocol at `/v1/ws`, Redis sessions/presence/rate limits, and the SFU driven over NATS.
 */
@Module({
  controllers: [
    DemoController,
    StatusController,
    DocsController,
    TokensController,
    RoomsController,
  ],
  providers: [
    { provide: SETTINGS, useFactory: (c: SignalingConfig) => buildSettings(c), inject: [CONFIG] },
    RedisLink,
    StateStore,
    NatsBatch,
    SfuClient,
    RateLimitService,
    Hub,
    PeerService,
    VoiceService,
    EchoAgent,
    RoomService,
    TokenService,
    Sweeper,
    WsMetrics,
    WsGateway,
  ],
})
export class SignalingModule {}
