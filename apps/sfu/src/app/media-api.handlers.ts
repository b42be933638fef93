import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type RequestOf, type ResponseOf, sfuContracts } from '@parley/contracts';
import type { mediasoupTypes as ms, Peer, Room } from '@parley/media';
import type { NatsMessaging } from '@parley/messaging';
import { MESSAGING } from '@parley/runtime';
import { MediaService } from './media.service';

type C = typeof sfuContracts;

type Req<K extends keyof C> = RequestOf<C[K]>;
type Res<K extends keyof C> = ResponseOf<C[K]>;
const ACK = { ok: true } as const;

/**
 * Serves the SFU media API (`sfuContracts`) over NATS. `sfu.room.open` is served in the `sfu`
 * queue group (any node may host a new room) and directed at this node; every other request only
 * directed at this node (`<subject>.<nodeId>`). Handlers only look entities up and call
 * `@parley/media`; its `MediaError`s (`code`, `message`, `retryable`) become the typed error reply.
 * RTP objects are passed to mediasoup as they come: it is the authority on their contents and
 * refuses bad ones with `BAD_RTP_PARAMETERS` / `CANNOT_CONSUME` / `BAD_REQUEST`.
 */
@Injectable()
export class MediaApiHandlers implements OnModuleInit {
  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(MediaService) private readonly media: MediaService,
  ) {}

  onModuleInit(): void {
    const m = this.messaging;
    const here = { tokens: [this.media.nodeId] };
    m.serve(sfuContracts.roomOpen, (r) => this.roomOpen(r));
    m.serve(sfuContracts.roomOpen, (r) => this.roomOpen(r), here);
    m.serve(sfuContracts.roomClose, (r) => this.roomClose(r), here);
    m.serve(sfuContracts.roomStats, (r) => this.roomStats(r), here);
    m.serve(sfuContracts.transportCreate, (r) => this.transportCreate(r), here);
    m.serve(sfuContracts.transportConnect, (r) => this.transportConnect(r), here);
    m.serve(sfuContracts.transportRestartIce, (r) => this.transportRestartIce(r), here);
    m.serve(sfuContracts.transportClose, (r) => this.transportClose(r), here);
    m.serve(sfuContracts.producerCreate, (r) => this.producerCreate(r), here);
    m.serve(sfuContracts.producerClose, (r) => this.producerClose(r), here);
    m.serve(sfuContracts.producerPause, (r) => this.producerPause(r), here);
    m.serve(sfuContracts.producerResume, (r) => this.producerResume(r), here);
    m.serve(sfuContracts.consumerCreate, (r) => this.consumerCreate(r), here);
    m.serve(sfuContracts.consumerResume, (r) => this.consumerResume(r), here);
    m.serve(sfuContracts.consumerClose, (r) => this.consumerClose(r), here);
    m.serve(sfuContracts.peerClose, (r) => this.peerClose(r), here);
  }

  async roomOpen(r: Req<'roomOpen'>): Promise<Res<'roomOpen'>> {
    const { emptyTimeoutS, transcription, language, bargeIn, ttsVoice } = r.options ?? {};
    const { room, created } = await this.media.manager.openRoom(r.roomId, {
      ...(emptyTimeoutS === undefined ? {} : { idleTimeoutMs: emptyTimeoutS * 1000 }),
      // The voice services (voice/) act on these; an open of a live room updates them.
      ...(r.options ? { voice: { transcription, language, bargeIn, ttsVoice } } : {}),
    });
    return {
      roomId: room.id,
      nodeId: this.media.nodeId,
      rtpCapabilities: room.rtpCapabilities,
      created,
      ...(r.peer ? { transports: await this.openPeer(room, r.peer) } : {}),
    };
  }

  /**
   * The join path's shortcut: the peer joins and gets the transports it will ask for in the same
   * request as the room open. A failure leaves no half-made peer behind.
   */
  private async openPeer(
    room: Room,
    p: NonNullable<Req<'roomOpen'>['peer']>,
  ): Promise<NonNullable<Res<'roomOpen'>['transports']>> {
    const peer = await room.getOrJoin(p.peerId);
    try {
      return await Promise.all(
        p.transports.map(async (direction) => {
          const t = await peer.createWebRtcTransport({ appData: { direction } });
          return {
            direction,
            transportId: t.id,
            iceParameters: t.iceParameters,
            iceCandidates: t.iceCandidates,
            dtlsParameters: t.dtlsParameters,
          };
        }),
      );
    } catch (err) {
      peer.close();
      throw err;
    }
  }

  roomClose(r: Req<'roomClose'>): Res<'roomClose'> {
    const room = this.media.manager.findRoom(r.roomId);
    room?.close('closed');
    return { closed: !!room };
  }

  async roomStats(r: Req<'roomStats'>): Promise<Res<'roomStats'>> {
    const room = this.room(r.roomId);
    const stats = await room.getStats();
    return {
      roomId: room.id,
      workerPid: room.workers()[0]?.pid ?? 0,
      routers: room.routerCount,
      ...room.counts(),
      details: {
        routers: stats.routers,
        totals: stats.totals,
        transports: stats.transports,
        producers: stats.producers,
        consumers: stats.consumers,
      },
    };
  }

  async transportCreate(r: Req<'transportCreate'>): Promise<Res<'transportCreate'>> {
    // The first transport of a peer is its join: signaling never calls a separate join.
    const peer = await this.room(r.roomId).getOrJoin(r.peerId);
    const t = await peer.createWebRtcTransport({ appData: { direction: r.direction } });
    return {
      transportId: t.id,
      iceParameters: t.iceParameters,
      iceCandidates: t.iceCandidates,
      dtlsParameters: t.dtlsParameters,
    };
  }

  async transportConnect(r: Req<'transportConnect'>): Promise<Res<'transportConnect'>> {
    await this.peer(r).connectTransport(r.transportId, r.dtlsParameters as ms.DtlsParameters);
    return ACK;
  }

  async transportRestartIce(r: Req<'transportRestartIce'>): Promise<Res<'transportRestartIce'>> {
    return { iceParameters: await this.peer(r).restartIce(r.transportId) };
  }

  transportClose(r: Req<'transportClose'>): Res<'transportClose'> {
    this.peer(r).closeTransport(r.transportId);
    return ACK;
  }

  async producerCreate(r: Req<'producerCreate'>): Promise<Res<'producerCreate'>> {
    const { id } = await this.peer(r).produce({
      transportId: r.transportId,
      kind: r.kind,
      rtpParameters: r.rtpParameters as unknown as ms.RtpParameters,
      paused: r.paused,
    });
    return { producerId: id };
  }

  producerClose(r: Req<'producerClose'>): Res<'producerClose'> {
    this.peer(r).closeProducer(r.producerId);
    return ACK;
  }

  async producerPause(r: Req<'producerPause'>): Promise<Res<'producerPause'>> {
    await this.peer(r).pauseProducer(r.producerId);
    return ACK;
  }

  async producerResume(r: Req<'producerResume'>): Promise<Res<'producerResume'>> {
    await this.peer(r).resumeProducer(r.producerId);
    return ACK;
  }

  async consumerCreate(r: Req<'consumerCreate'>): Promise<Res<'consumerCreate'>> {
    const c = await this.peer(r).consume({
      transportId: r.transportId,
      producerId: r.producerId,
      rtpCapabilities: r.rtpCapabilities as ms.RtpCapabilities,
    });
    return {
      consumerId: c.id,
      producerId: c.producerId,
      producerPeerId: c.producerPeerId,
      kind: c.kind,
      rtpParameters: c.rtpParameters,
      type: c.type,
      producerPaused: c.producerPaused,
    };
  }

  async consumerResume(r: Req<'consumerResume'>): Promise<Res<'consumerResume'>> {
    await this.peer(r).resumeConsumer(r.consumerId);
    return ACK;
  }

  consumerClose(r: Req<'consumerClose'>): Res<'consumerClose'> {
    this.peer(r).closeConsumer(r.consumerId);
    return ACK;
  }

  peerClose(r: Req<'peerClose'>): Res<'peerClose'> {
    this.room(r.roomId).leave(r.peerId);
    return ACK;
  }

  private room(roomId: string): Room {
    return this.media.manager.getRoom(roomId);
  }

  private peer(r: { roomId: string; peerId: string }): Peer {
    return this.room(r.roomId).getPeer(r.peerId);
  }
}
