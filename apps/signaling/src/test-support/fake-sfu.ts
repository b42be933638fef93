// A stand-in for the SFU app's NATS media API (sfuContracts), for signaling's integration tests:
// same subjects, same schemas, no media. It records calls and can stop answering (hang) or
// vanish (stop) to exercise SFU_UNAVAILABLE. Test support only.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  type RequestContract,
  type RequestOf,
  type ResponseOf,
  sfuContracts,
  sfuEvents,
} from '@parley/contracts';
import { NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';

interface FakePeer {
  transports: Map<string, 'send' | 'recv'>;
  producers: Map<string, { kind: 'audio' | 'video'; paused: boolean }>;
  consumers: Map<string, string>;
}

function notFound(what: string): Error {
  return Object.assign(new Error(`${what} not found`), { code: 'NOT_FOUND' });
}

export const FAKE_RTP_CAPABILITIES = {
  codecs: [
    {
      kind: 'audio',
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      preferredPayloadType: 100,
    },
  ],
  headerExtensions: [],
};

/** A fake SFU node on NATS. */
export class FakeSfu {
  readonly rooms = new Map<string, Map<string, FakePeer>>();
  readonly calls: Array<{ subject: string; payload: unknown }> = [];
  /** While true, requests are received but never answered (the caller's deadline passes). */
  hang = false;
  /** Publish `sfu.producer.opened/closed` like a real SFU. */
  publishEvents = true;
  /** Artificial latency of every answer. */
  delayMs = 0;
  private readonly messaging: NatsMessaging;
  private readonly releases: Array<() => void> = [];

  private constructor(
    natsUrl: string,
    readonly nodeId: string,
  ) {
    this.messaging = new NatsMessaging({
      servers: [natsUrl],
      name: `fake-sfu@${nodeId}`,
      queue: 'sfu',
      logger: createLogger({
        service: 'sfu',
        nodeId,
        level: 'error',
        stream: new Writable({ write: (_c, _e, cb) => cb() }),
      }),
    });
  }

  /** Starts serving on `natsUrl` as node `nodeId`. */
  static async start(
    natsUrl: string,
    nodeId = `fake-${randomUUID().slice(0, 8)}`,
  ): Promise<FakeSfu> {
    const sfu = new FakeSfu(natsUrl, nodeId);
    sfu.serveAll();
    sfu.messaging.start();
    await sfu.messaging.waitUntilConnected();
    await sfu.messaging.connection.flush();
    return sfu;
  }

  /** Stops answering for good (callers get NO_RESPONDERS). */
  async stop(): Promise<void> {
    this.release();
    await this.messaging.close();
  }

  /** Answers the requests held while hanging. */
  release(): void {
    this.hang = false;
    for (const r of this.releases.splice(0)) r();
  }

  /** Publishes an SFU room event (tests drive resets, speakers, failures). */
  publish<K extends keyof typeof sfuEvents>(name: K, payload: never, roomId?: string): void {
    this.messaging.publish(sfuEvents[name], payload, roomId ? { tokens: [roomId] } : {});
  }

  private serve<C extends RequestContract>(
    contract: C,
    handler: (req: RequestOf<C>) => ResponseOf<C>,
    queue = false,
  ): void {
    const wrapped = async (req: RequestOf<C>) => {
      this.calls.push({ subject: contract.subject, payload: req });
      if (this.hang) await new Promise<void>((r) => this.releases.push(r));
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      return handler(req);
    };
    this.messaging.serve(contract, wrapped, { tokens: [this.nodeId], queue: false });
    if (queue) this.messaging.serve(contract, wrapped, { queue: 'sfu' });
  }

  private peer(roomId: string, peerId: string, create = false): FakePeer {
    const room = this.rooms.get(roomId);
    if (!room) throw Object.assign(new Error('room closed'), { code: 'ROOM_CLOSED' });
    let p = room.get(peerId);
    if (!p && create) {
      p = { transports: new Map(), producers: new Map(), consumers: new Map() };
      room.set(peerId, p);
    }
    if (!p) throw notFound(`peer ${peerId}`);
    return p;
  }

  private createTransport(roomId: string, peerId: string, direction: 'send' | 'recv') {
    const p = this.peer(roomId, peerId, true);
    const transportId = randomUUID();
    p.transports.set(transportId, direction);
    return {
      transportId,
      iceParameters: {
        usernameFragment: randomUUID().slice(0, 8),
        password: randomUUID(),
        iceLite: true,
      },
      iceCandidates: [
        {
          foundation: 'udpcandidate',
          priority: 1076302079,
          address: '127.0.0.1',
          port: 40000,
          protocol: 'udp',
          type: 'host',
        },
      ],
      dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] },
    };
  }

  private findProducer(
    roomId: string,
    producerId: string,
  ): { peerId: string; kind: 'audio' | 'video'; paused: boolean } {
    for (const [peerId, p] of this.rooms.get(roomId) ?? []) {
      const pr = p.producers.get(producerId);
      if (pr) return { peerId, ...pr };
    }
    throw notFound(`producer ${producerId}`);
  }

  private serveAll(): void {
    const c = sfuContracts;
    const ok = { ok: true as const };
    this.serve(
      c.roomOpen,
      (r) => {
        const created = !this.rooms.has(r.roomId);
        if (created) this.rooms.set(r.roomId, new Map());
        const peer = r.peer;
        return {
          roomId: r.roomId,
          nodeId: this.nodeId,
          rtpCapabilities: FAKE_RTP_CAPABILITIES,
          created,
          ...(peer
            ? {
                transports: peer.transports.map((direction) => ({
                  direction,
                  ...this.createTransport(r.roomId, peer.peerId, direction),
                })),
              }
            : {}),
        };
      },
      true,
    );
    this.serve(c.roomClose, (r) => ({ closed: this.rooms.delete(r.roomId) }));
    this.serve(c.roomStats, (r) => {
      const room = this.rooms.get(r.roomId);
      if (!room) throw notFound('room');
      return {
        roomId: r.roomId,
        workerPid: process.pid,
        routers: 1,
        peers: room.size,
        transports: 0,
        producers: 0,
        consumers: 0,
      };
    });
    this.serve(c.transportCreate, (r) => this.createTransport(r.roomId, r.peerId, r.direction));
    this.serve(c.transportConnect, (r) => {
      if (!this.peer(r.roomId, r.peerId).transports.has(r.transportId)) throw notFound('transport');
      return ok;
    });
    this.serve(c.transportRestartIce, (r) => {
      if (!this.peer(r.roomId, r.peerId).transports.has(r.transportId)) throw notFound('transport');
      return {
        iceParameters: {
          usernameFragment: randomUUID().slice(0, 8),
          password: randomUUID(),
          iceLite: true,
        },
      };
    });
    this.serve(c.transportClose, (r) => {
      this.peer(r.roomId, r.peerId).transports.delete(r.transportId);
      return ok;
    });
    this.serve(c.producerCreate, (r) => {
      const p = this.peer(r.roomId, r.peerId);
      if (p.transports.get(r.transportId) !== 'send') throw notFound('send transport');
      const producerId = randomUUID();
      p.producers.set(producerId, { kind: r.kind, paused: r.paused ?? false });
      if (this.publishEvents) {
        this.messaging.publish(
          sfuEvents.producerOpened,
          {
            roomId: r.roomId,
            peerId: r.peerId,
            producerId,
            kind: r.kind,
            paused: r.paused ?? false,
          },
          { tokens: [r.roomId] },
        );
      }
      return { producerId };
    });
    const closeProducer = (roomId: string, peerId: string, producerId: string) => {
      const p = this.peer(roomId, peerId);
      if (!p.producers.delete(producerId)) throw notFound('producer');
      if (this.publishEvents) {
        this.messaging.publish(
          sfuEvents.producerClosed,
          { roomId, peerId, producerId },
          { tokens: [roomId] },
        );
      }
    };
    this.serve(c.producerClose, (r) => {
      closeProducer(r.roomId, r.peerId, r.producerId);
      return ok;
    });
    for (const [contract, paused] of [
      [c.producerPause, true],
      [c.producerResume, false],
    ] as const) {
      this.serve(contract, (r) => {
        const pr = this.peer(r.roomId, r.peerId).producers.get(r.producerId);
        if (!pr) throw notFound('producer');
        pr.paused = paused;
        return ok;
      });
    }
    this.serve(c.consumerCreate, (r) => {
      const p = this.peer(r.roomId, r.peerId);
      if (p.transports.get(r.transportId) !== 'recv') throw notFound('recv transport');
      const prod = this.findProducer(r.roomId, r.producerId);
      const consumerId = randomUUID();
      p.consumers.set(consumerId, r.producerId);
      return {
        consumerId,
        producerId: r.producerId,
        producerPeerId: prod.peerId,
        kind: prod.kind,
        rtpParameters: {
          codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
          encodings: [{ ssrc: 1234 }],
        },
        type: 'simple',
        producerPaused: prod.paused,
      };
    });
    this.serve(c.consumerResume, (r) => {
      if (!this.peer(r.roomId, r.peerId).consumers.has(r.consumerId)) throw notFound('consumer');
      return ok;
    });
    this.serve(c.consumerClose, (r) => {
      this.peer(r.roomId, r.peerId).consumers.delete(r.consumerId);
      return ok;
    });
    this.serve(c.peerClose, (r) => {
      const room = this.rooms.get(r.roomId);
      const p = room?.get(r.peerId);
      if (p && this.publishEvents) {
        for (const producerId of p.producers.keys()) {
          this.messaging.publish(
            sfuEvents.producerClosed,
            { roomId: r.roomId, peerId: r.peerId, producerId },
            { tokens: [r.roomId] },
          );
        }
      }
      room?.delete(r.peerId);
      return ok;
    });
  }
}
