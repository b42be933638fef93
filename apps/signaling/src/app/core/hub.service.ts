import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  type PeerCommandEvent,
  type ProducerInfo,
  type RoomChangedEvent,
  WS_CLOSE,
  signalingEvents,
  sfuEvents,
} from '@parley/contracts';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger, Metrics } from '@parley/observability';
import { LOGGER, MESSAGING, METRICS, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import { Gauge } from 'prom-client';
import { NatsBatch } from './nats-batch';
import type { PeerLink } from './peer-link';
import { nodeToken } from './settings';
import { StateStore } from './state.store';

/** A room as one signaling node sees it: its local sockets and the producers announced to them. */
interface LocalRoom {
  peers: Map<string, PeerLink>;
  producers: Map<string, ProducerInfo>;
  /** Recently closed producer ids (a late "opened" from another source must not revive them). */
  closed: Set<string>;
}

const CLOSED_MEMORY = 512;

/**
 * The local fan-out of one signaling node. It holds the sockets of the rooms it serves and
 * listens once (wildcard subjects) to the SFU's room events and to the room changes other
 * signaling nodes publish, delivering each to the sockets of that room only. Producer
 * announcements are de-duplicated per room because they can arrive twice (from the signaling
 * node that handled `produce` and from the SFU).
 */
@Injectable()
export class Hub implements OnModuleInit {
  private readonly rooms = new Map<string, LocalRoom>();
  private readonly links = new Set<PeerLink>();
  private readonly connections: Gauge;

  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
    @Inject(METRICS) metrics: Metrics,
    @Inject(StateStore) private readonly store: StateStore,
    @Inject(NatsBatch) private readonly batch: NatsBatch,
  ) {
    this.connections = new Gauge({
      name: 'parley_signaling_connections',
      help: 'Open WebSocket connections (joined or not)',
      registers: [metrics.registry],
      collect: () => this.connections.set(this.links.size),
    });
  }

  /** This node as a subject token / owner tag. */
  private get node(): string {
    return nodeToken(this.info.nodeId);
  }

  onModuleInit(): void {
    const m = this.messaging;
    const all = { tokens: ['*'] };
    m.subscribe(signalingEvents.roomChanged, (e) => this.onRoomChanged(e), all);
    m.subscribe(signalingEvents.peerCommand, (c) => this.onCommand(c), {
      tokens: [this.node],
    });
    m.subscribe(
      sfuEvents.producerOpened,
      async (e) => {
        const room = this.rooms.get(e.roomId);
        if (!room) return;
        const p: ProducerInfo = {
          producerId: e.producerId,
          peerId: e.peerId,
          kind: e.kind,
          paused: e.paused,
        };
        // Server-side producers (TTS playback) reach signaling only this way: remember them.
        if (!room.producers.has(p.producerId) && !room.closed.has(p.producerId)) {
          await this.store.putProducerIfAbsent(e.roomId, p).catch(() => undefined);
        }
        this.announceProducer(e.roomId, p);
      },
      all,
    );
    m.subscribe(
      sfuEvents.producerClosed,
      async (e) => {
        if (!this.rooms.has(e.roomId)) return;
        await this.store.deleteProducer(e.roomId, e.producerId).catch(() => undefined);
        this.retireProducer(e.roomId, e.producerId, e.peerId);
      },
      all,
    );
    m.subscribe(
      sfuEvents.transportFailed,
      (e) => {
        const link = this.rooms.get(e.roomId)?.peers.get(e.peerId);
        link?.notify('reconnectRequired', {
          reason: 'transport_failed',
          transportId: e.transportId,
        });
      },
      all,
    );
    m.subscribe(
      sfuEvents.roomReset,
      async (e) => {
        const room = this.rooms.get(e.roomId);
        if (!room) return;
        this.logger.warn('roomReset() | SFU reset a room, peers must reconnect', {
          roomId: e.roomId,
          reason: e.reason,
        });
        await this.store.clearProducers(e.roomId).catch(() => undefined);
        for (const id of room.producers.keys()) room.closed.add(id);
        room.producers.clear();
        for (const link of room.peers.values()) {
          link.notify('reconnectRequired', { reason: 'sfu_reset', retryAfterMs: 0 });
        }
      },
      all,
    );
    m.subscribe(
      sfuEvents.activeSpeaker,
      (e) =>
        this.broadcast(e.roomId, (l) =>
          l.notify('activeSpeaker', { peerId: e.peerId, volumes: e.volumes }),
        ),
      all,
    );
  }

  // ---- sockets ---------------------------------------------------------------------------

  /** Tracks an open connection (joined or not) for shutdown. */
  track(link: PeerLink): void {
    this.links.add(link);
  }

  /** Stops tracking a closed connection. */
  untrack(link: PeerLink): void {
    this.links.delete(link);
    this.detach(link);
  }

  /** Every open connection. */
  openLinks(): PeerLink[] {
    return [...this.links];
  }

  /**
   * Adds a joining connection to its room before the room snapshot is read, so no event falls
   * between the snapshot and the subscription (the connection buffers notifications until its
   * join response is sent).
   */
  attach(link: PeerLink): void {
    const s = link.session;
    if (!s) return;
    let room = this.rooms.get(s.roomId);
    if (!room) {
      room = { peers: new Map(), producers: new Map(), closed: new Set() };
      this.rooms.set(s.roomId, room);
    }
    const previous = room.peers.get(s.peerId);
    if (previous && previous !== link)
      previous.close(WS_CLOSE.superseded, 'session resumed elsewhere');
    room.peers.set(s.peerId, link);
  }

  /** Marks producers from a room snapshot as announced (they are in the join response). */
  seed(roomId: string, producers: ProducerInfo[]): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    for (const p of producers) {
      if (!room.closed.has(p.producerId)) room.producers.set(p.producerId, p);
    }
  }

  /** Removes a connection from its room. */
  detach(link: PeerLink): void {
    const s = link.session;
    if (!s) return;
    const room = this.rooms.get(s.roomId);
    if (!room || room.peers.get(s.peerId) !== link) return;
    room.peers.delete(s.peerId);
    if (room.peers.size === 0) this.rooms.delete(s.roomId);
  }

  /** The local connection of a peer. */
  find(roomId: string, peerId: string): PeerLink | undefined {
    return this.rooms.get(roomId)?.peers.get(peerId);
  }

  /** Rooms with local connections (tests, metrics). */
  get roomCount(): number {
    return this.rooms.size;
  }

  // ---- cross-node ------------------------------------------------------------------------

  /**
   * Tells every signaling node serving the room (this one included), in the next NATS batch
   * (in order with the SFU calls issued before it).
   */
  publish(e: RoomChangedEvent): void {
    this.batch.fire(
      () => this.messaging.publish(signalingEvents.roomChanged, e, { tokens: [e.roomId] }),
      (err) =>
        this.logger.warn('publish() | room change not sent', {
          roomId: e.roomId,
          kind: e.kind,
          err: (err as Error).message,
        }),
    );
  }

  /** Sends a command to the node holding a peer's socket. */
  command(node: string, c: PeerCommandEvent): void {
    try {
      this.messaging.publish(signalingEvents.peerCommand, c, { tokens: [node] });
    } catch (err) {
      this.logger.warn('command() | peer command not sent', {
        node,
        command: c.command,
        err: (err as Error).message,
      });
    }
  }

  private onRoomChanged(e: RoomChangedEvent): void {
    if (!this.rooms.has(e.roomId)) return;
    switch (e.kind) {
      case 'peerJoined':
        this.broadcast(e.roomId, (l) => l.notify('peerJoined', { peer: e.peer }), e.peer.peerId);
        return;
      case 'peerLeft': {
        const room = this.rooms.get(e.roomId);
        for (const p of [...(room?.producers.values() ?? [])]) {
          if (p.peerId === e.peerId) {
            room?.producers.delete(p.producerId);
            room?.closed.add(p.producerId);
          }
        }
        this.broadcast(
          e.roomId,
          (l) => l.notify('peerLeft', { peerId: e.peerId, reason: e.reason }),
          e.peerId,
        );
        return;
      }
      case 'producerOpened':
        this.announceProducer(e.roomId, e.producer);
        return;
      case 'producerClosed':
        this.retireProducer(e.roomId, e.producerId, e.peerId);
        return;
      case 'producerPaused': {
        const p = this.rooms.get(e.roomId)?.producers.get(e.producerId);
        if (p) p.paused = e.paused;
        this.broadcast(
          e.roomId,
          (l) =>
            l.notify('producerPaused', {
              producerId: e.producerId,
              peerId: e.peerId,
              paused: e.paused,
            }),
          e.peerId,
        );
        return;
      }
      case 'speaker':
        this.broadcast(e.roomId, (l) =>
          l.notify('activeSpeaker', { peerId: e.speaker.peerId, volumes: e.speaker.volumes }),
        );
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  }

  private onCommand(c: PeerCommandEvent): void {
    const link = this.find(c.roomId, c.peerId);
    const s = link?.session;
    if (!link || !s || s.sessionId !== c.sessionId) return;
    switch (c.command) {
      case 'remove':
        link.notify('removed', { reason: c.reason ?? 'removed' });
        this.detach(link);
        link.session = undefined;
        link.close(WS_CLOSE.removed, c.reason ?? 'removed');
        return;
      case 'supersede':
        this.detach(link);
        link.session = undefined;
        link.close(WS_CLOSE.superseded, 'session resumed on another connection');
        return;
      case 'mute':
      case 'unmute':
        // The admin's node already paused/resumed the producers; tell the participant.
        s.muted = c.command === 'mute';
        s.mutedProducers = s.muted ? (c.producers ?? []) : [];
        link.notify('muted', { muted: s.muted, producers: c.producers ?? [] });
        return;
      default: {
        const never: never = c.command;
        return never;
      }
    }
  }

  private announceProducer(roomId: string, p: ProducerInfo): void {
    const room = this.rooms.get(roomId);
    if (!room || room.producers.has(p.producerId) || room.closed.has(p.producerId)) return;
    room.producers.set(p.producerId, p);
    this.broadcast(roomId, (l) => l.notify('newProducer', p), p.peerId);
  }

  private retireProducer(roomId: string, producerId: string, peerId: string): void {
    const room = this.rooms.get(roomId);
    if (!room || room.closed.has(producerId)) return;
    room.producers.delete(producerId);
    room.closed.add(producerId);
    if (room.closed.size > CLOSED_MEMORY) {
      const first = room.closed.values().next().value;
      if (first !== undefined) room.closed.delete(first);
    }
    // The owner hears it too: the SFU may close a producer on its own (transport gone).
    this.broadcast(roomId, (l) => l.notify('producerClosed', { producerId, peerId }));
  }

  /** Whether this node holds sockets of a room. */
  hasRoom(roomId: string): boolean {
    return this.rooms.has(roomId);
  }

  /** Runs `fn` for every local socket of a room; returns how many. */
  toRoom(roomId: string, fn: (l: PeerLink) => void): number {
    const room = this.rooms.get(roomId);
    if (!room) return 0;
    for (const link of room.peers.values()) fn(link);
    return room.peers.size;
  }

  private broadcast(roomId: string, fn: (l: PeerLink) => void, exceptPeerId?: string): void {
    const room = this.rooms.get(roomId);
    if (!room) return;
    for (const [peerId, link] of room.peers) {
      if (peerId !== exceptPeerId) fn(link);
    }
  }
}
