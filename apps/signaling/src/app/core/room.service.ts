import { Inject, Injectable } from '@nestjs/common';
import {
  type CreateRoomRequest,
  type MuteParticipantResponse,
  type ParticipantView,
  type RoomView,
  scopedRoomId,
  sfuContracts,
} from '@parley/contracts';
import type { Logger } from '@parley/observability';
import { LOGGER } from '@parley/runtime';
import { SignalingError } from './errors';
import { Hub } from './hub.service';
import { PeerService, resolveRoomOptions } from './peer.service';
import { SETTINGS, type SignalingSettings } from './settings';
import { SfuClient } from './sfu.client';
import { type RoomRecord, StateStore } from './state.store';

function view(r: RoomRecord, participants: number): RoomView {
  return {
    name: r.name,
    maxParticipants: r.options.maxParticipants,
    transcription: r.options.transcription,
    language: r.options.language,
    ...(r.options.ttsVoice ? { ttsVoice: r.options.ttsVoice } : {}),
    emptyTimeoutS: r.options.emptyTimeoutS,
    createdAt: r.createdAt,
    participants,
  };
}

/**
 * The REST API's behaviour on rooms and participants of one tenant. Room ids are always built
 * from the caller's tenant, so another tenant's room cannot even be named.
 */
@Injectable()
export class RoomService {
  constructor(
    @Inject(StateStore) private readonly store: StateStore,
    @Inject(PeerService) private readonly peers: PeerService,
    @Inject(SfuClient) private readonly sfu: SfuClient,
    @Inject(Hub) private readonly hub: Hub,
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Creates a room; `CONFLICT` when the name is taken. */
  async create(tenant: string, req: CreateRoomRequest): Promise<RoomView> {
    const { name, ...options } = req;
    const record: RoomRecord = {
      roomId: scopedRoomId(tenant, name),
      tenant,
      name,
      options: resolveRoomOptions(options, this.settings),
      createdAt: Date.now(),
    };
    if (!(await this.store.createRoom(record))) {
      throw new SignalingError('CONFLICT', `room ${name} already exists`);
    }
    this.logger.info('create() | room created', { roomId: record.roomId });
    return view(record, 0);
  }

  /** Rooms of a tenant. */
  async list(tenant: string): Promise<RoomView[]> {
    const names = await this.store.listRoomNames(tenant);
    const ids = names.map((n) => scopedRoomId(tenant, n));
    const [rooms, counts] = await Promise.all([
      this.store.getRooms(ids),
      this.store.countMany(ids),
    ]);
    return rooms.flatMap((r, i) => (r ? [view(r, counts[i] ?? 0)] : []));
  }

  /** One room. */
  async get(tenant: string, name: string): Promise<RoomView> {
    const roomId = scopedRoomId(tenant, name);
    const r = await this.store.requireRoom(roomId, name);
    return view(r, await this.store.countParticipants(roomId));
  }

  /** Deletes a room: its participants are removed (`removed`, close 4003) and the SFU frees it. */
  async delete(tenant: string, name: string): Promise<boolean> {
    const roomId = scopedRoomId(tenant, name);
    const r = await this.store.requireRoom(roomId, name);
    for (const p of await this.store.participants(roomId)) {
      await this.peers.removeSession(p.sessionId, 'room_deleted', p, roomId);
    }
    const deleted = await this.store.deleteRoom(r);
    if (r.sfuNode) {
      await this.sfu
        .call(sfuContracts.roomClose, { roomId }, r.sfuNode)
        .catch((err: Error) =>
          this.logger.warn('delete() | SFU room close failed', { roomId, err: err.message }),
        );
    }
    this.logger.info('delete() | room deleted', { roomId });
    return deleted;
  }

  /** Participants of a room with their state and producers. */
  async participants(tenant: string, name: string): Promise<ParticipantView[]> {
    const roomId = scopedRoomId(tenant, name);
    await this.store.requireRoom(roomId, name);
    const { peers, producers } = await this.store.roomSnapshot(roomId);
    const sessions = await Promise.all(peers.map((p) => this.store.getSession(p.sessionId)));
    return peers.map((p, i) => {
      const s = sessions[i];
      return {
        identity: p.identity,
        peerId: p.peerId,
        ...(p.displayName ? { displayName: p.displayName } : {}),
        role: p.role,
        state: s?.state === 'connected' ? 'connected' : 'reconnecting',
        muted: s?.muted ?? false,
        joinedAt: p.joinedAt,
        producers: producers
          .filter((x) => x.peerId === p.peerId)
          .map((x) => ({ producerId: x.producerId, kind: x.kind, paused: x.paused })),
      };
    });
  }

  /** Removes a participant (its socket closes with 4003, others hear `peerLeft`). */
  async remove(tenant: string, name: string, identity: string): Promise<boolean> {
    const roomId = scopedRoomId(tenant, name);
    await this.store.requireRoom(roomId, name);
    const p = await this.store.participantByIdentity(roomId, identity);
    if (!p) throw new SignalingError('PARTICIPANT_NOT_FOUND', `${identity} is not in room ${name}`);
    const removed = await this.peers.removeSession(p.sessionId, 'removed', p, roomId);
    this.logger.info('remove() | participant removed', { roomId, peerId: p.peerId, removed });
    return removed;
  }

  /**
   * Mutes (pauses every audio producer; resuming is refused with `MUTED`) or unmutes (resumes
   * the producers the mute paused) a participant.
   */
  async mute(
    tenant: string,
    name: string,
    identity: string,
    muted: boolean,
  ): Promise<MuteParticipantResponse> {
    const roomId = scopedRoomId(tenant, name);
    await this.store.requireRoom(roomId, name);
    const p = await this.store.participantByIdentity(roomId, identity);
    const s = p ? await this.store.getSession(p.sessionId) : undefined;
    if (!p || !s || s.state === 'leaving') {
      throw new SignalingError('PARTICIPANT_NOT_FOUND', `${identity} is not in room ${name}`);
    }
    const audio = (await this.store.producers(roomId)).filter(
      (x) => x.peerId === p.peerId && x.kind === 'audio',
    );
    const targets = muted
      ? audio.filter((x) => !x.paused)
      : audio.filter((x) => x.paused && s.mutedProducers.includes(x.producerId));
    const done: string[] = [];
    for (const x of targets) {
      try {
        await this.sfu.call(
          muted ? sfuContracts.producerPause : sfuContracts.producerResume,
          { roomId, peerId: p.peerId, producerId: x.producerId },
          s.sfuNode,
        );
      } catch (err) {
        if (SfuClient.entityGone(err)) continue;
        throw err;
      }
      await this.store.putProducer(roomId, { ...x, paused: muted });
      this.hub.publish({
        kind: 'producerPaused',
        roomId,
        producerId: x.producerId,
        peerId: p.peerId,
        paused: muted,
      });
      done.push(x.producerId);
    }
    await this.store.setSessionFields(s.sessionId, {
      muted: muted ? '1' : '0',
      mutedProducers: JSON.stringify(muted ? done : []),
    });
    if (s.state === 'connected' && s.owner) {
      this.hub.command(s.owner, {
        roomId,
        peerId: p.peerId,
        sessionId: s.sessionId,
        command: muted ? 'mute' : 'unmute',
        producers: done,
      });
    }
    this.logger.info('mute() | participant mute changed', { roomId, peerId: p.peerId, muted });
    return { identity, muted, producers: done };
  }
}
