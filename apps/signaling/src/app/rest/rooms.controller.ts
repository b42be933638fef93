import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { type Principal, authorizeRoom, authorizeTenant } from '@parley/auth';
import { Identity, RoomName, scopedRoomId } from '@parley/contracts';
import type { z } from 'zod';
import { RoomService } from '../core/room.service';
import { VoiceService } from '../core/voice.service';
import { API, nestPath } from './api-spec';
import { ApiAuthGuard, Caller } from './auth.guard';
import { ZodPipe } from '@parley/runtime';

const room = new ZodPipe(RoomName, 'room name');
const identity = new ZodPipe(Identity, 'identity');

/** `/v1/rooms`: rooms and participants of the caller's tenant. */
@Controller()
@UseGuards(ApiAuthGuard)
export class RoomsController {
  constructor(
    @Inject(RoomService) private readonly rooms: RoomService,
    @Inject(VoiceService) private readonly voice: VoiceService,
  ) {}

  @Post(nestPath(API.createRoom))
  @HttpCode(API.createRoom.status)
  create(
    @Caller() p: Principal,
    @Body(new ZodPipe(API.createRoom.body)) body: z.output<typeof API.createRoom.body>,
  ) {
    authorizeTenant(p);
    return this.rooms.create(p.tenant, body);
  }

  @Get(nestPath(API.listRooms))
  async list(@Caller() p: Principal) {
    authorizeTenant(p);
    return { rooms: await this.rooms.list(p.tenant) };
  }

  @Get(nestPath(API.getRoom))
  get(@Caller() p: Principal, @Param('room', room) name: string) {
    authorizeRoom(p, p.tenant, name, 'admin');
    return this.rooms.get(p.tenant, name);
  }

  @Delete(nestPath(API.deleteRoom))
  async delete(@Caller() p: Principal, @Param('room', room) name: string) {
    authorizeRoom(p, p.tenant, name, 'admin');
    return { deleted: await this.rooms.delete(p.tenant, name) };
  }

  @Get(nestPath(API.listParticipants))
  async participants(@Caller() p: Principal, @Param('room', room) name: string) {
    authorizeRoom(p, p.tenant, name, 'admin');
    return { participants: await this.rooms.participants(p.tenant, name) };
  }

  @Delete(nestPath(API.removeParticipant))
  async remove(
    @Caller() p: Principal,
    @Param('room', room) name: string,
    @Param('identity', identity) who: string,
  ) {
    authorizeRoom(p, p.tenant, name, 'admin');
    return { deleted: await this.rooms.remove(p.tenant, name, who) };
  }

  @Post(nestPath(API.muteParticipant))
  @HttpCode(API.muteParticipant.status)
  mute(
    @Caller() p: Principal,
    @Param('room', room) name: string,
    @Param('identity', identity) who: string,
    @Body(new ZodPipe(API.muteParticipant.body)) body: z.output<typeof API.muteParticipant.body>,
  ) {
    authorizeRoom(p, p.tenant, name, 'admin');
    return this.rooms.mute(p.tenant, name, who, body.muted);
  }

  @Post(nestPath(API.sayInRoom))
  @HttpCode(API.sayInRoom.status)
  async say(
    @Caller() p: Principal,
    @Param('room', room) name: string,
    @Body(new ZodPipe(API.sayInRoom.body)) body: z.output<typeof API.sayInRoom.body>,
  ) {
    authorizeRoom(p, p.tenant, name, 'admin');
    await this.rooms.get(p.tenant, name); // 404 for an unknown room
    const roomId = scopedRoomId(p.tenant, name);
    const r = await this.voice.speak(roomId, {
      text: body.text,
      ...(body.voice ? { voice: body.voice } : {}),
      ...(body.interrupt ? { interrupt: true } : {}),
      requestedBy: p.kind === 'apiKey' ? 'rest:api-key' : `rest:${p.claims.identity}`,
    });
    return { requestId: r.sayId, producerId: r.producerId, queued: r.queued };
  }
}
