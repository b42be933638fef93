import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { sfuContracts } from '@parley/contracts';
import type { Logger } from '@parley/observability';
import { LOGGER, SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import { PeerService } from './peer.service';
import { SfuClient } from './sfu.client';
import { nodeToken } from './settings';
import { StateStore } from './state.store';

const TICK_MS = 1000;
const HEARTBEAT_MS = 5000;
/** A node silent this long is presumed dead; its sessions enter their grace period. */
const NODE_DEAD_MS = 20_000;

/**
 * Periodic upkeep every signaling node runs; each item is claimed atomically in Redis, so with
 * several replicas exactly one handles it: sessions whose reconnect grace ended leave, empty rooms
 * past their timeout are deleted (and closed at the SFU), sessions of nodes that stopped
 * heart-beating enter their grace, and releases that failed while Redis was down are retried.
 */
@Injectable()
export class Sweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private running = false;
  private lastBeat = 0;

  constructor(
    @Inject(StateStore) private readonly store: StateStore,
    @Inject(PeerService) private readonly peers: PeerService,
    @Inject(SfuClient) private readonly sfu: SfuClient,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SERVICE_INFO) private readonly info: ServiceInfo,
  ) {}

  /** This node as a subject token / owner tag. */
  private get node(): string {
    return nodeToken(this.info.nodeId);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.store.forgetNode(this.node).catch(() => undefined);
  }

  /** One round of upkeep (public for tests). */
  async tick(now = Date.now()): Promise<void> {
    if (this.running || !this.store.ready) return;
    this.running = true;
    try {
      if (now - this.lastBeat >= HEARTBEAT_MS) {
        await this.store.heartbeat(this.node, now);
        this.lastBeat = now;
      }
      await this.peers.retryReleases();
      for (const sid of await this.store.expiredGrace(now)) {
        await this.peers.expire(sid).catch((err: Error) =>
          this.logger.warn('tick() | session expiry failed', {
            sessionId: sid,
            err: err.message,
          }),
        );
      }
      for (const roomId of await this.store.expiredEmptyRooms(now)) {
        const room = await this.store.getRoom(roomId);
        if (!(await this.store.claimEmptyRoom(roomId, now))) continue;
        this.logger.info('tick() | empty room expired', { roomId });
        if (room?.sfuNode) {
          await this.sfu
            .call(sfuContracts.roomClose, { roomId }, room.sfuNode)
            .catch(() => undefined);
        }
      }
      for (const node of await this.store.silentNodes(now - NODE_DEAD_MS)) {
        if (node === this.node) continue;
        const sessions = await this.store.claimNode(node);
        if (!sessions) continue;
        this.logger.warn('tick() | signaling node silent, its sessions enter grace', {
          node,
          sessions: sessions.length,
        });
        await this.peers.releaseAll(sessions, node);
      }
    } catch (err) {
      this.logger.debug('tick() | upkeep interrupted', { err: (err as Error).message });
    } finally {
      this.running = false;
    }
  }
}
