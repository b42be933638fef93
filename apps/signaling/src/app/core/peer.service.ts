import { Inject, Injectable } from '@nestjs/common';
import { assertGrant, hasGrant } from '@parley/auth';
import {
  type LeaveReason,
  type PeerInfo,
  type ProducerInfo,
  type ResponseOf,
  type RoomOptions,
  type WsRequestData,
  type WsResponseData,
  scopedRoomId,
  sfuContracts,
} from '@parley/contracts';
import type { Logger } from '@parley/observability';
import { LOGGER, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import { SignalingError } from './errors';
import { Hub } from './hub.service';
import { randomId } from './ids';
import type { LiveSession, PeerLink } from './peer-link';
import { SETTINGS, type SignalingSettings, nodeToken } from './settings';
import { SfuClient } from './sfu.client';
import {
  type ParticipantRecord,
  type RoomRecord,
  type SessionRecord,
  StateStore,
} from './state.store';

/** Most transports, producers and consumers one peer may hold. */
export const PEER_LIMITS = { transports: 4, producers: 8, consumers: 1000 } as const;

/** What a cleanup needs to know about a session. */
type SessionRef = Pick<
  SessionRecord,
  'sessionId' | 'roomId' | 'peerId' | 'identity' | 'sfuNode' | 'owner'
> & { emptyTimeoutS?: number };

/** Effective options of a room from requested ones and the server defaults. */
export function resolveRoomOptions(
  o: RoomOptions,
  settings: SignalingSettings,
): RoomRecord['options'] {
  return {
    maxParticipants: o.maxParticipants ?? settings.config.SIGNALING_ROOM_MAX_PARTICIPANTS,
    transcription: o.transcription ?? false,
    language: o.language ?? 'auto',
    emptyTimeoutS: o.emptyTimeoutS ?? settings.config.SIGNALING_ROOM_EMPTY_TIMEOUT_S,
    agent: o.agent ?? 'none',
    bargeIn: o.bargeIn ?? true,
    ...(o.ttsVoice ? { ttsVoice: o.ttsVoice } : {}),
  };
}

function peerInfo(p: ParticipantRecord): PeerInfo {
  return {
    peerId: p.peerId,
    identity: p.identity,
    role: p.role,
    ...(p.displayName ? { displayName: p.displayName } : {}),
  };
}

/**
 * The protocol's behaviour: join (fresh or resumed), transports, producers, consumers, leave and
 * the cleanup of sessions whose connection is gone. Every SFU call goes through {@link SfuClient}
 * (directed at the node holding the peer, bounded by a deadline); every shared fact lives in
 * Redis ({@link StateStore}); local sockets hear about changes through the {@link Hub}.
 */
@Injectable()
export class PeerService {
  /** Releases that failed (Redis down) and are retried by the sweeper. */
  private readonly pendingReleases: LiveSession[] = [];

  constructor(
    @Inject(StateStore) private readonly store: StateStore,
    @Inject(SfuClient) private readonly sfu: SfuClient,
    @Inject(Hub) private readonly hub: Hub,
    @Inject(SETTINGS) private readonly settings: SignalingSettings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
  ) {}

  /** This node as a subject token / owner tag. */
  private get node(): string {
    return nodeToken(this.info.nodeId);
  }

  private get graceS(): number {
    return this.settings.config.SIGNALING_RECONNECT_GRACE_S;
  }

  // ---- join ------------------------------------------------------------------------------

  /** `join`: resumes `sessionId` when it is still alive, otherwise joins as a new peer. */
  async join(link: PeerLink, data: WsRequestData<'join'>): Promise<WsResponseData<'join'>> {
    const c = link.claims;
    assertGrant(c.role, c.grants, 'join');
    const roomId = scopedRoomId(c.tenant, c.room);
    if (data.sessionId) {
      const resumed = await this.resume(link, data.sessionId, roomId);
      if (resumed) return resumed;
    }
    return this.freshJoin(link, data, roomId);
  }

  private async freshJoin(
    link: PeerLink,
    data: WsRequestData<'join'>,
    roomId: string,
  ): Promise<WsResponseData<'join'>> {
    const c = link.claims;
    const { room: found, existing } = await this.store.joinRead(roomId, c.identity);
    let room = found;
    if (!room) {
      if (!this.settings.config.SIGNALING_AUTO_CREATE_ROOMS) {
        throw new SignalingError('ROOM_NOT_FOUND', `room ${c.room} does not exist`);
      }
      await this.store.createRoom({
        roomId,
        tenant: c.tenant,
        name: c.room,
        options: resolveRoomOptions({}, this.settings),
        createdAt: Date.now(),
      });
      room = await this.store.requireRoom(roomId, c.room);
    }
    // One connection per identity and room (LiveKit's rule): a new device replaces the old one.
    if (existing) await this.removeSession(existing.sessionId, 'replaced', existing, roomId);

    const now = Date.now();
    const peerId = `p${randomId(9)}`;
    const sessionId = randomId(18);
    const displayName = data.displayName ?? c.name;
    const participant: ParticipantRecord = {
      peerId,
      identity: c.identity,
      role: c.role,
      ...(displayName ? { displayName } : {}),
      sessionId,
      joinedAt: now,
    };
    // Admission and placement are independent: one round trip each, in parallel. A refused
    // admission leaves at most an idle router behind, which the SFU closes on its own. Placement
    // on the room's known node also joins the peer there with the transports its grants allow
    // (created now, handed out by `createTransport`).
    const directions: Array<'send' | 'recv'> = [];
    if (hasGrant(c.role, c.grants, 'publish')) directions.push('send');
    if (hasGrant(c.role, c.grants, 'subscribe')) directions.push('recv');
    const [admission, placement] = await Promise.allSettled([
      this.store.admit(roomId, participant, room.options.maxParticipants),
      this.placeRoom(room, directions.length ? { peerId, transports: directions } : undefined),
    ]);
    if (admission.status !== 'fulfilled' || admission.value !== 'ok') {
      // The peer may exist at the SFU already (placement with the peer): close it.
      if (placement.status === 'fulfilled' && placement.value.transports) {
        void this.sfu
          .call(sfuContracts.peerClose, { roomId, peerId }, placement.value.nodeId)
          .catch(() => undefined);
      }
    }
    if (admission.status === 'rejected') throw admission.reason;
    const admitted = admission.value;
    if (admitted === 'full') {
      throw new SignalingError(
        'ROOM_FULL',
        `room ${c.room} is full (${room.options.maxParticipants} participants)`,
        true,
      );
    }
    if (admitted === 'gone')
      throw new SignalingError('ROOM_NOT_FOUND', `room ${c.room} was deleted`);

    const live: LiveSession = {
      sessionId,
      tenant: c.tenant,
      roomId,
      room: c.room,
      peerId,
      identity: c.identity,
      ...(displayName ? { displayName } : {}),
      role: c.role,
      grants: c.grants,
      epoch: 1,
      sfuNode: '',
      emptyTimeoutS: room.options.emptyTimeoutS,
      transports: new Map(),
      producers: new Map(),
      consumers: new Map(),
      muted: false,
      mutedProducers: [],
    };
    let attached = false;
    try {
      if (placement.status === 'rejected') throw placement.reason;
      const placed = placement.value;
      live.sfuNode = placed.nodeId;
      if (placed.transports?.length) {
        live.prepared = new Map(placed.transports.map(({ direction, ...t }) => [direction, t]));
      }
      link.session = live;
      this.hub.attach(link);
      attached = true;
      // `createTransports`: the transports are handed out with the join (the prepared ones, else
      // made now) and recorded with the session; otherwise each when `createTransport` asks.
      const createdTransports = data.createTransports
        ? await Promise.all(directions.map((direction) => this.handOutTransport(live, direction)))
        : undefined;
      for (const t of createdTransports ?? []) live.transports.set(t.transportId, t.direction);
      const snap = await this.store.startSession({
        ...live,
        owner: this.node,
        state: 'connected',
        createdAt: now,
        joinedAt: now,
      });
      const producers = snap.producers.filter((p) => p.peerId !== peerId);
      this.hub.seed(roomId, producers);
      this.hub.publish({ kind: 'peerJoined', roomId, peer: peerInfo(participant) });
      // winston formats a line before its transport drops it: skip the work when info is off.
      if (this.logger.isInfoEnabled()) {
        this.logger.info('join() | peer joined', {
          roomId,
          peerId,
          identity: c.identity,
          sfuNode: placed.nodeId,
        });
      }
      return {
        sessionId,
        peerId,
        room: c.room,
        identity: c.identity,
        role: c.role,
        grants: c.grants,
        resumed: false,
        routerRtpCapabilities: placed.rtpCapabilities,
        peers: snap.peers.filter((p) => p.peerId !== peerId).map(peerInfo),
        producers,
        transports: [],
        ownProducers: [],
        ...(createdTransports ? { createdTransports } : {}),
        roomOptions: this.clientRoomOptions(room),
        reconnectGraceS: this.graceS,
        tokenExpiresAt: c.expiresAt,
      };
    } catch (err) {
      if (attached) this.hub.detach(link);
      link.session = undefined;
      await this.finish({ ...live, owner: this.node }, 'left', { silent: true }).catch(
        () => undefined,
      );
      throw err;
    }
  }

  private async resume(
    link: PeerLink,
    sessionId: string,
    roomId: string,
  ): Promise<WsResponseData<'join'> | undefined> {
    const c = link.claims;
    const rec = await this.store.getSession(sessionId);
    // Someone else's session id (another identity, room or tenant) is treated like an unknown one.
    if (!rec || rec.tenant !== c.tenant || rec.identity !== c.identity || rec.roomId !== roomId) {
      return undefined;
    }
    const claim = await this.store.claimSession(sessionId, this.node);
    if (!claim) return undefined;
    if (claim.prevOwner && claim.prevOwner !== this.node) {
      this.hub.command(claim.prevOwner, {
        roomId,
        peerId: rec.peerId,
        sessionId,
        command: 'supersede',
      });
      await this.store.unindexSession(sessionId, claim.prevOwner).catch(() => undefined);
    }
    const room = await this.store.getRoom(roomId);
    const ref: SessionRef = { ...rec, owner: this.node };
    if (!room) {
      await this.finish(ref, 'disconnected', { silent: true }).catch(() => undefined);
      return undefined;
    }
    let transports: WsResponseData<'join'>['transports'];
    let rtpCapabilities: WsResponseData<'join'>['routerRtpCapabilities'];
    try {
      const opened = await this.sfu.call(
        sfuContracts.roomOpen,
        { roomId, options: this.sfuRoomOptions(room) },
        rec.sfuNode,
      );
      rtpCapabilities = opened.rtpCapabilities;
      transports = await Promise.all(
        [...rec.transports].map(async ([transportId, direction]) => {
          const r = await this.sfu.call(
            sfuContracts.transportRestartIce,
            { roomId, peerId: rec.peerId, transportId },
            rec.sfuNode,
          );
          return { transportId, direction, iceParameters: r.iceParameters };
        }),
      );
    } catch (err) {
      if (SfuClient.entityGone(err) || SfuClient.nodeGone(err)) {
        // The SFU lost this peer (room reset, node gone): its media state cannot come back.
        this.logger.info('join() | session cannot resume, joining afresh', {
          sessionId,
          err: (err as Error).message,
        });
        await this.finish(ref, 'disconnected').catch(() => undefined);
        return undefined;
      }
      await this.store.releaseSession(sessionId, claim.epoch, this.graceS).catch(() => undefined);
      throw err;
    }
    const live: LiveSession = {
      sessionId,
      tenant: rec.tenant,
      roomId,
      room: rec.room,
      peerId: rec.peerId,
      identity: rec.identity,
      ...(rec.displayName ? { displayName: rec.displayName } : {}),
      role: c.role,
      grants: c.grants,
      epoch: claim.epoch,
      sfuNode: rec.sfuNode,
      emptyTimeoutS: room.options.emptyTimeoutS,
      transports: rec.transports,
      producers: rec.producers,
      consumers: rec.consumers,
      muted: rec.muted,
      mutedProducers: rec.mutedProducers,
    };
    link.session = live;
    this.hub.attach(link);
    try {
      const snap = await this.store.roomSnapshot(roomId);
      const producers = snap.producers.filter((p) => p.peerId !== rec.peerId);
      this.hub.seed(roomId, producers);
      this.logger.info('join() | session resumed', {
        roomId,
        peerId: rec.peerId,
        transports: transports.length,
      });
      return {
        sessionId,
        peerId: rec.peerId,
        room: rec.room,
        identity: rec.identity,
        role: c.role,
        grants: c.grants,
        resumed: true,
        routerRtpCapabilities: rtpCapabilities,
        peers: snap.peers.filter((p) => p.peerId !== rec.peerId).map(peerInfo),
        producers,
        transports,
        ownProducers: snap.producers.filter((p) => p.peerId === rec.peerId),
        roomOptions: this.clientRoomOptions(room),
        reconnectGraceS: this.graceS,
        tokenExpiresAt: c.expiresAt,
      };
    } catch (err) {
      this.hub.detach(link);
      link.session = undefined;
      await this.store.releaseSession(sessionId, claim.epoch, this.graceS).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Makes sure the room has a router on an SFU node: the recorded node when it answers, else any
   * node (queue group), recorded with a compare-and-set so concurrent placements agree.
   */
  async placeRoom(
    room: RoomRecord,
    peer?: { peerId: string; transports: Array<'send' | 'recv'> },
  ): Promise<ResponseOf<typeof sfuContracts.roomOpen>> {
    const req = { roomId: room.roomId, options: this.sfuRoomOptions(room) };
    if (room.sfuNode) {
      try {
        // Only the node known to host the room gets the peer: a placement race elsewhere must
        // not leave transports on a node that loses it.
        return await this.sfu.call(
          sfuContracts.roomOpen,
          peer ? { ...req, peer } : req,
          room.sfuNode,
        );
      } catch (err) {
        if (!SfuClient.nodeGone(err)) throw err;
        this.logger.warn('placeRoom() | SFU node gone, placing the room again', {
          roomId: room.roomId,
          node: room.sfuNode,
        });
      }
    }
    const opened = await this.sfu.call(sfuContracts.roomOpen, req, undefined);
    const winner = await this.store.claimRoomNode(room.roomId, room.sfuNode, opened.nodeId);
    if (!winner) throw new SignalingError('ROOM_NOT_FOUND', `room ${room.name} was deleted`);
    if (winner === opened.nodeId) return opened;
    // Another signaling node placed it first: use its node (ours closes its idle router itself).
    return this.sfu.call(sfuContracts.roomOpen, req, winner);
  }

  private sfuRoomOptions(room: RoomRecord) {
    return {
      emptyTimeoutS: room.options.emptyTimeoutS,
      transcription: room.options.transcription,
      ...(room.options.language && room.options.language !== 'auto'
        ? { language: room.options.language }
        : {}),
      bargeIn: room.options.bargeIn,
      ...(room.options.ttsVoice ? { ttsVoice: room.options.ttsVoice } : {}),
    };
  }

  private clientRoomOptions(room: RoomRecord): WsResponseData<'join'>['roomOptions'] {
    return {
      transcription: room.options.transcription,
      language: room.options.language,
      ...(room.options.ttsVoice ? { ttsVoice: room.options.ttsVoice } : {}),
    };
  }

  // ---- media requests --------------------------------------------------------------------

  /** `createTransport`. */
  async createTransport(
    link: PeerLink,
    data: WsRequestData<'createTransport'>,
  ): Promise<WsResponseData<'createTransport'>> {
    const s = this.session(link);
    assertGrant(s.role, s.grants, data.direction === 'send' ? 'publish' : 'subscribe');
    if (s.transports.size >= PEER_LIMITS.transports) {
      throw new SignalingError('CONFLICT', `at most ${PEER_LIMITS.transports} transports per peer`);
    }
    const r = await this.handOutTransport(s, data.direction);
    await this.remember(s, { [`t:${r.transportId}`]: data.direction }, () =>
      this.sfu.call(
        sfuContracts.transportClose,
        { roomId: s.roomId, peerId: s.peerId, transportId: r.transportId },
        s.sfuNode,
      ),
    );
    s.transports.set(r.transportId, data.direction);
    return r;
  }

  /** `connectTransport`. */
  async connectTransport(
    link: PeerLink,
    data: WsRequestData<'connectTransport'>,
  ): Promise<WsResponseData<'connectTransport'>> {
    const s = this.session(link);
    this.transport(s, data.transportId);
    await this.sfu.call(
      sfuContracts.transportConnect,
      {
        roomId: s.roomId,
        peerId: s.peerId,
        transportId: data.transportId,
        dtlsParameters: data.dtlsParameters,
      },
      s.sfuNode,
    );
    return {};
  }

  /** `restartIce`. */
  async restartIce(
    link: PeerLink,
    data: WsRequestData<'restartIce'>,
  ): Promise<WsResponseData<'restartIce'>> {
    const s = this.session(link);
    this.transport(s, data.transportId);
    return this.sfu.call(
      sfuContracts.transportRestartIce,
      { roomId: s.roomId, peerId: s.peerId, transportId: data.transportId },
      s.sfuNode,
    );
  }

  /** `produce`. */
  async produce(
    link: PeerLink,
    data: WsRequestData<'produce'>,
  ): Promise<WsResponseData<'produce'>> {
    const s = this.session(link);
    assertGrant(s.role, s.grants, 'publish');
    if (this.transport(s, data.transportId) !== 'send') {
      throw new SignalingError('BAD_REQUEST', 'produce needs a send transport');
    }
    if (s.muted && data.kind === 'audio' && !data.paused) {
      throw new SignalingError('MUTED', 'an admin muted you: produce audio paused');
    }
    if (s.producers.size >= PEER_LIMITS.producers) {
      throw new SignalingError('CONFLICT', `at most ${PEER_LIMITS.producers} producers per peer`);
    }
    const paused = data.paused ?? false;
    const r = await this.sfu.call(
      sfuContracts.producerCreate,
      {
        roomId: s.roomId,
        peerId: s.peerId,
        transportId: data.transportId,
        kind: data.kind,
        rtpParameters: data.rtpParameters,
        paused,
      },
      s.sfuNode,
    );
    const info: ProducerInfo = {
      producerId: r.producerId,
      peerId: s.peerId,
      kind: data.kind,
      paused,
    };
    await this.remember(s, { [`p:${r.producerId}`]: data.kind }, () =>
      this.sfu.call(
        sfuContracts.producerClose,
        { roomId: s.roomId, peerId: s.peerId, producerId: r.producerId },
        s.sfuNode,
      ),
    );
    s.producers.set(r.producerId, data.kind);
    await this.store.putProducer(s.roomId, info);
    this.hub.publish({ kind: 'producerOpened', roomId: s.roomId, producer: info });
    return { producerId: r.producerId };
  }

  /** `consume`. */
  async consume(
    link: PeerLink,
    data: WsRequestData<'consume'>,
  ): Promise<WsResponseData<'consume'>> {
    const s = this.session(link);
    assertGrant(s.role, s.grants, 'subscribe');
    if (this.transport(s, data.transportId) !== 'recv') {
      throw new SignalingError('BAD_REQUEST', 'consume needs a recv transport');
    }
    if (s.consumers.size >= PEER_LIMITS.consumers) {
      throw new SignalingError('CONFLICT', `at most ${PEER_LIMITS.consumers} consumers per peer`);
    }
    const r = await this.sfu.call(
      sfuContracts.consumerCreate,
      {
        roomId: s.roomId,
        peerId: s.peerId,
        transportId: data.transportId,
        producerId: data.producerId,
        rtpCapabilities: data.rtpCapabilities,
      },
      s.sfuNode,
    );
    await this.remember(s, { [`c:${r.consumerId}`]: r.producerId }, () =>
      this.sfu.call(
        sfuContracts.consumerClose,
        { roomId: s.roomId, peerId: s.peerId, consumerId: r.consumerId },
        s.sfuNode,
      ),
    );
    s.consumers.set(r.consumerId, r.producerId);
    return {
      consumerId: r.consumerId,
      producerId: r.producerId,
      peerId: r.producerPeerId,
      kind: r.kind,
      rtpParameters: r.rtpParameters,
      type: r.type,
      producerPaused: r.producerPaused,
    };
  }

  /** `resumeConsumer`. */
  async resumeConsumer(
    link: PeerLink,
    data: WsRequestData<'resumeConsumer'>,
  ): Promise<WsResponseData<'resumeConsumer'>> {
    const s = this.session(link);
    if (!s.consumers.has(data.consumerId)) {
      throw new SignalingError('NOT_FOUND', 'no such consumer of yours');
    }
    await this.sfu.call(
      sfuContracts.consumerResume,
      { roomId: s.roomId, peerId: s.peerId, consumerId: data.consumerId },
      s.sfuNode,
    );
    return {};
  }

  /** `pauseProducer` / `resumeProducer`. */
  async setProducerPaused(link: PeerLink, producerId: string, paused: boolean): Promise<object> {
    const s = this.session(link);
    const kind = this.producer(s, producerId);
    if (!paused && s.muted && kind === 'audio') {
      throw new SignalingError('MUTED', 'an admin muted you');
    }
    await this.sfu.call(
      paused ? sfuContracts.producerPause : sfuContracts.producerResume,
      { roomId: s.roomId, peerId: s.peerId, producerId },
      s.sfuNode,
    );
    await this.store.putProducer(s.roomId, {
      producerId,
      peerId: s.peerId,
      kind: kind as 'audio' | 'video',
      paused,
    });
    this.hub.publish({
      kind: 'producerPaused',
      roomId: s.roomId,
      producerId,
      peerId: s.peerId,
      paused,
    });
    return {};
  }

  /** `closeProducer`. */
  async closeProducer(link: PeerLink, producerId: string): Promise<object> {
    const s = this.session(link);
    this.producer(s, producerId);
    await this.sfu.call(
      sfuContracts.producerClose,
      { roomId: s.roomId, peerId: s.peerId, producerId },
      s.sfuNode,
    );
    s.producers.delete(producerId);
    await this.store.deleteSessionFields(s.sessionId, [`p:${producerId}`]);
    await this.store.deleteProducer(s.roomId, producerId);
    this.hub.publish({ kind: 'producerClosed', roomId: s.roomId, producerId, peerId: s.peerId });
    return {};
  }

  // ---- leaving ---------------------------------------------------------------------------

  /** `leave`: everything of the peer is closed now, others hear `peerLeft`. */
  async leave(link: PeerLink): Promise<void> {
    const s = this.session(link);
    this.hub.detach(link);
    link.session = undefined;
    if (await this.store.claimLeave(s.sessionId, s.epoch)) {
      await this.finish({ ...s, owner: this.node }, 'left');
    }
  }

  /**
   * The socket closed without `leave`: the session enters its grace period (the SFU keeps the
   * peer) unless the grace is 0. When Redis is down the release is retried by the sweeper.
   */
  async disconnected(link: PeerLink): Promise<void> {
    const s = link.session;
    if (!s) return;
    this.hub.detach(link);
    link.session = undefined;
    try {
      await this.release(s);
    } catch (err) {
      this.logger.warn('disconnected() | cannot release session now, will retry', {
        sessionId: s.sessionId,
        err: (err as Error).message,
      });
      if (this.pendingReleases.length < 100_000) this.pendingReleases.push(s);
    }
  }

  private async release(s: LiveSession): Promise<void> {
    if (this.graceS === 0) {
      if (await this.store.claimLeave(s.sessionId, s.epoch)) {
        await this.finish({ ...s, owner: this.node }, 'disconnected');
      }
      return;
    }
    await this.store.releaseSession(s.sessionId, s.epoch, this.graceS);
  }

  /** Retries releases that failed while Redis was down (called by the sweeper). */
  async retryReleases(): Promise<void> {
    const batch = this.pendingReleases.splice(0, 500);
    for (let i = 0; i < batch.length; i++) {
      try {
        await this.release(batch[i] as LiveSession);
      } catch {
        this.pendingReleases.unshift(...batch.slice(i));
        return;
      }
    }
  }

  /** Moves sessions held by a node into their grace period (the node stopped or died). */
  async releaseAll(sessionIds: string[], fromNode: string): Promise<void> {
    for (const sid of sessionIds) {
      const rec = await this.store.getSession(sid);
      if (!rec || rec.owner !== fromNode || rec.state !== 'connected') continue;
      await this.store.releaseSession(sid, rec.epoch, this.graceS);
    }
  }

  /** Cleans up a session whose grace expired (called by the sweeper). */
  async expire(sessionId: string): Promise<void> {
    if (!(await this.store.claimLeave(sessionId))) return;
    const rec = await this.store.getSession(sessionId);
    if (!rec) return;
    this.logger.info('expire() | reconnect grace over, peer leaves', {
      roomId: rec.roomId,
      peerId: rec.peerId,
    });
    await this.finish(rec, 'disconnected');
  }

  /**
   * Removes a participant by session (admin removal, identity replaced, room deleted): the node
   * holding its socket is told to close it, then everything is cleaned up. A presence entry
   * without a session (its node died long ago) is cleaned up directly.
   */
  async removeSession(
    sessionId: string,
    reason: LeaveReason,
    participant?: ParticipantRecord,
    roomId?: string,
  ): Promise<boolean> {
    const rec = await this.store.getSession(sessionId);
    if (!rec) {
      if (participant && roomId) {
        const r = await this.store.removePeer(roomId, participant.peerId, participant.identity, 0);
        if (r.wasPresent) {
          this.hub.publish({ kind: 'peerLeft', roomId, peerId: participant.peerId, reason });
        }
        return r.wasPresent;
      }
      return false;
    }
    if (!(await this.store.claimLeave(sessionId, '*'))) return false;
    if (rec.state === 'connected' && rec.owner) {
      this.hub.command(rec.owner, {
        roomId: rec.roomId,
        peerId: rec.peerId,
        sessionId,
        command: 'remove',
        reason,
      });
    }
    await this.finish(rec, reason);
    return true;
  }

  /** Closes the peer at the SFU and forgets it: presence, producers, session; `peerLeft`. */
  private async finish(
    s: SessionRef,
    reason: LeaveReason,
    opts: { silent?: boolean } = {},
  ): Promise<void> {
    const closeAtSfu = s.sfuNode
      ? this.sfu
          .call(sfuContracts.peerClose, { roomId: s.roomId, peerId: s.peerId }, s.sfuNode)
          .catch((err: Error) => {
            // Gone already, or its node is down (which closed it anyway).
            this.logger.debug('finish() | SFU peer close failed', {
              peerId: s.peerId,
              err: err.message,
            });
          })
      : undefined;
    const emptyTimeoutS =
      s.emptyTimeoutS ?? (await this.store.getRoom(s.roomId))?.options.emptyTimeoutS ?? 0;
    const [r] = await Promise.all([
      this.store.removePeerAndSession(
        s.roomId,
        s.peerId,
        s.identity,
        emptyTimeoutS,
        s.sessionId,
        s.owner,
      ),
      closeAtSfu,
    ]);
    for (const producerId of r.producers) {
      this.hub.publish({ kind: 'producerClosed', roomId: s.roomId, producerId, peerId: s.peerId });
    }
    if (r.wasPresent && !opts.silent) {
      this.hub.publish({ kind: 'peerLeft', roomId: s.roomId, peerId: s.peerId, reason });
    }
    if (this.logger.isInfoEnabled()) {
      this.logger.info('finish() | peer left', { roomId: s.roomId, peerId: s.peerId, reason });
    }
  }

  /**
   * Undoes the effect of a request whose response already went out as TIMEOUT (its deadline
   * passed while the SFU was slow): the client believes it failed, so it must not half-exist.
   */
  async undoLate(link: PeerLink, method: string, result: unknown): Promise<void> {
    const s = link.session;
    if (method === 'join') {
      const r = result as WsResponseData<'join'>;
      const live = s?.sessionId === r.sessionId ? s : undefined;
      if (live) {
        this.hub.detach(link);
        link.session = undefined;
        if (await this.store.claimLeave(live.sessionId, '*')) {
          await this.finish({ ...live, owner: this.node }, 'left');
        }
      }
      return;
    }
    if (!s) return;
    const ref = { roomId: s.roomId, peerId: s.peerId };
    if (method === 'createTransport') {
      const id = (result as WsResponseData<'createTransport'>).transportId;
      s.transports.delete(id);
      await this.store.deleteSessionFields(s.sessionId, [`t:${id}`]);
      await this.sfu.call(sfuContracts.transportClose, { ...ref, transportId: id }, s.sfuNode);
    } else if (method === 'produce') {
      const id = (result as WsResponseData<'produce'>).producerId;
      await this.closeProducer(link, id);
    } else if (method === 'consume') {
      const id = (result as WsResponseData<'consume'>).consumerId;
      s.consumers.delete(id);
      await this.store.deleteSessionFields(s.sessionId, [`c:${id}`]);
      await this.sfu.call(sfuContracts.consumerClose, { ...ref, consumerId: id }, s.sfuNode);
    }
  }

  // ---- helpers ---------------------------------------------------------------------------

  /**
   * A transport of the session in `direction`: the one prepared with the join (once), else a new
   * one at the SFU. The caller records it in `s.transports`.
   */
  private async handOutTransport(
    s: LiveSession,
    direction: 'send' | 'recv',
  ): Promise<WsResponseData<'createTransport'>> {
    const prepared = s.prepared?.get(direction);
    if (prepared) s.prepared?.delete(direction);
    const r =
      prepared ??
      (await this.sfu.call(
        sfuContracts.transportCreate,
        { roomId: s.roomId, peerId: s.peerId, direction },
        s.sfuNode,
      ));
    return { ...r, direction };
  }

  private session(link: PeerLink): LiveSession {
    if (!link.session) throw new SignalingError('NOT_JOINED', 'send join first');
    return link.session;
  }

  private transport(s: LiveSession, transportId: string): 'send' | 'recv' {
    const d = s.transports.get(transportId);
    if (!d) throw new SignalingError('NOT_FOUND', 'no such transport of yours');
    return d;
  }

  private producer(s: LiveSession, producerId: string): string {
    const k = s.producers.get(producerId);
    if (!k) throw new SignalingError('NOT_FOUND', 'no such producer of yours');
    return k;
  }

  /** Records an SFU entity in the session; when Redis refuses, undoes it at the SFU. */
  private async remember(
    s: LiveSession,
    fields: Record<string, string>,
    undo: () => Promise<unknown>,
  ): Promise<void> {
    try {
      await this.store.setSessionFields(s.sessionId, fields);
    } catch (err) {
      await undo().catch(() => undefined);
      throw err;
    }
  }
}
