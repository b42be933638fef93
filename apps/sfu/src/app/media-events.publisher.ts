import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { type EventContract, type PayloadOf, sfuEvents } from '@parley/contracts';
import type { Room, RoomManager, WorkerPool } from '@parley/media';
import type { NatsMessaging } from '@parley/messaging';
import type { Logger } from '@parley/observability';
import { LOGGER, MESSAGING } from '@parley/runtime';
import { MediaService } from './media.service';

/**
 * Puts the media model's events on NATS (`sfuEvents`): producers opened/closed, transport
 * failures, audio levels / active speaker (room events, trailing `<roomId>` token), rooms reset
 * (re-created after a worker death, closed, idle) and worker replacements.
 */
@Injectable()
export class MediaEventsPublisher implements OnModuleInit {
  constructor(
    @Inject(MESSAGING) private readonly messaging: NatsMessaging,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MediaService) private readonly media: MediaService,
  ) {}

  onModuleInit(): void {
    this.media.onStarted((manager, pool) => this.wire(manager, pool));
  }

  private wire(manager: RoomManager, pool: WorkerPool): void {
    const nodeId = this.media.nodeId;
    manager.on('roomcreated', (room) => this.wireRoom(room));
    for (const room of manager.rooms()) this.wireRoom(room);
    manager.on('roomclosed', ({ roomId, reason }) => {
      // A worker death is announced once the room is back (roomrecreated) or lost for good.
      if (reason === 'worker-died') return;
      this.publish(sfuEvents.roomReset, { roomId, reason, nodeId }, roomId);
    });
    manager.on('roomrecreated', ({ roomId }) =>
      this.publish(sfuEvents.roomReset, { roomId, reason: 'worker_died', nodeId }, roomId),
    );
    manager.on('roomrecreatefailed', ({ roomId }) =>
      this.publish(sfuEvents.roomReset, { roomId, reason: 'worker_died', nodeId }, roomId),
    );
    pool.on('workerreplaced', (e) =>
      this.publish(sfuEvents.workerReplaced, {
        nodeId,
        deadPid: e.oldPid,
        newPid: e.newPid,
        rooms: e.roomIds,
      }),
    );
  }

  private wireRoom(room: Room): void {
    const roomId = room.id;
    room.on('newproducer', (p) =>
      this.publish(
        sfuEvents.producerOpened,
        { roomId, peerId: p.peerId, producerId: p.id, kind: p.kind, paused: p.paused },
        roomId,
      ),
    );
    room.on('producerclosed', (p) =>
      this.publish(
        sfuEvents.producerClosed,
        { roomId, peerId: p.peerId, producerId: p.producerId },
        roomId,
      ),
    );
    room.on('transportfailed', (t) =>
      this.publish(
        sfuEvents.transportFailed,
        { roomId, peerId: t.peerId, transportId: t.transportId, state: t.state },
        roomId,
      ),
    );
    // The room elects the speaker across its routers; levels come per router, loudest first.
    let speaker: string | undefined;
    room.on('activespeaker', (level) => {
      speaker = level.peerId;
    });
    room.on('audiolevels', (levels) =>
      this.publish(
        sfuEvents.activeSpeaker,
        {
          roomId,
          peerId: speaker ?? levels[0]?.peerId ?? null,
          volumes: levels.map((l) => ({ peerId: l.peerId, dBov: l.volume })),
        },
        roomId,
      ),
    );
    room.on('silence', () => {
      speaker = undefined;
      this.publish(sfuEvents.activeSpeaker, { roomId, peerId: null, volumes: [] }, roomId);
    });
  }

  private publish<E extends EventContract>(event: E, payload: PayloadOf<E>, roomId?: string): void {
    try {
      this.messaging.publish(event, payload, roomId ? { tokens: [roomId] } : {});
    } catch (err) {
      // NATS down: the event is lost, the media keeps flowing; signaling resyncs on reconnect.
      this.logger.warn('publish() | cannot publish SFU event', {
        subject: event.subject,
        roomId,
        err: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
