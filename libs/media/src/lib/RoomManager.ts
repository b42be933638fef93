import { MediaError } from './MediaError';
import { silentLogger, type MediaLogger } from './MediaLogger';
import type { RoomCloseReason, RoomStats } from './MediaTypes';
import { Room, type RoomOptions } from './Room';
import { TypedEmitter } from './TypedEmitter';
import type { PoolMetrics, WorkerPool } from './WorkerPool';

/** Payload of `roomrecreated`. */
export interface RoomRecreatedEvent {
  roomId: string;
  /** The new room (same id, fresh router on a live worker, no peers yet). */
  room: Room;
  /** Peers of the old room; they must reconnect (re-join and renegotiate). */
  peerIds: string[];
  /** Pool slots / pids the old room ran on. */
  previousWorkers: { index: number; pid: number }[];
  reason: 'worker-died';
}

/** Events of a `RoomManager`. */
export type RoomManagerEvents = {
  roomcreated: [Room];
  roomclosed: [{ roomId: string; reason: RoomCloseReason }];
  /** A room lost a worker and was re-created on a live one; tell `peerIds` to reconnect. */
  roomrecreated: [RoomRecreatedEvent];
  /** Re-creating a room failed (no worker came back in time); its peers must be told. */
  roomrecreatefailed: [{ roomId: string; peerIds: string[]; error: MediaError }];
};

/** Media-wide metrics as plain data. */
export interface MediaMetrics extends PoolMetrics {
  rooms: number;
  peers: number;
}

/**
 * Owns the rooms of one SFU process on a `WorkerPool`: creates them (deduplicating concurrent
 * creation of one id), closes them, and when a worker dies re-creates each affected room on a
 * live worker and emits `roomrecreated` with the peers that must reconnect.
 */
export class RoomManager extends TypedEmitter<RoomManagerEvents> {
  readonly #pool: WorkerPool;
  readonly #defaults: RoomOptions;
  readonly #rooms = new Map<string, Room>();
  readonly #creating = new Map<string, Promise<Room>>();
  #closed = false;

  constructor(pool: WorkerPool, options: { defaults?: RoomOptions; logger?: MediaLogger } = {}) {
    super(options.logger ?? silentLogger);
    this.#pool = pool;
    this.#defaults = options.defaults ?? {};
  }

  /** The pool the rooms run on. */
  get pool(): WorkerPool {
    return this.#pool;
  }

  /** The room with that id, created (on the least-loaded worker) if absent. */
  async getOrCreateRoom(roomId: string, options?: RoomOptions): Promise<Room> {
    this.#assertOpen();
    const existing = this.#rooms.get(roomId);
    if (existing && !existing.closed) return existing;
    return this.#create(roomId, { ...this.#defaults, ...options });
  }

  /**
   * Like `getOrCreateRoom`, and says whether this call created the room. Opening an existing room
   * restarts its idle countdown (whoever opens it is about to join) and applies `options.voice`.
   */
  async openRoom(roomId: string, options?: RoomOptions): Promise<{ room: Room; created: boolean }> {
    this.#assertOpen();
    const existing = this.findRoom(roomId);
    if (existing) {
      existing.touch();
      if (options?.voice) existing.configureVoice(options.voice);
      return { room: existing, created: false };
    }
    const inFlight = this.#creating.has(roomId);
    const room = await this.#create(roomId, { ...this.#defaults, ...options });
    return { room, created: !inFlight };
  }

  /** The room with that id (`NOT_FOUND` otherwise). */
  getRoom(roomId: string): Room {
    this.#assertOpen();
    const room = this.#rooms.get(roomId);
    if (!room || room.closed) throw MediaError.notFound('room', String(roomId));
    return room;
  }

  /** The room with that id, if open. */
  findRoom(roomId: string): Room | undefined {
    const room = this.#rooms.get(roomId);
    return room && !room.closed ? room : undefined;
  }

  /** Open rooms. */
  rooms(): Room[] {
    return [...this.#rooms.values()].filter((r) => !r.closed);
  }

  /** Closes a room (`NOT_FOUND` if absent). */
  closeRoom(roomId: string): void {
    this.getRoom(roomId).close('closed');
  }

  /** Pool metrics plus room and peer counts. */
  metrics(): MediaMetrics {
    const rooms = this.rooms();
    return {
      ...this.#pool.metrics(),
      rooms: rooms.length,
      peers: rooms.reduce((a, r) => a + r.peers().length, 0),
    };
  }

  /** Statistics of every open room (bitrate and loss per producer/consumer) for the exporter. */
  async collectRoomStats(): Promise<RoomStats[]> {
    const all = await Promise.all(this.rooms().map((r) => r.getStats().catch(() => undefined)));
    return all.filter((s): s is RoomStats => s !== undefined);
  }

  /** Closes every room (not the pool, which the caller owns). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const room of this.#rooms.values()) room.close('closed');
    this.#rooms.clear();
    this.removeAllListeners();
  }

  #assertOpen(): void {
    if (this.#closed) throw new MediaError('INVALID_STATE', 'room manager is closed');
  }

  #create(roomId: string, options: RoomOptions): Promise<Room> {
    const pending = this.#creating.get(roomId);
    if (pending) return pending;
    const creation = Room.create(roomId, this.#pool, options, this.logger)
      .then((room) => {
        if (this.#closed) {
          room.close('closed');
          throw new MediaError('INVALID_STATE', 'room manager is closed');
        }
        this.#track(room);
        this.safeEmit('roomcreated', room);
        return room;
      })
      .finally(() => this.#creating.delete(roomId));
    this.#creating.set(roomId, creation);
    return creation;
  }

  #track(room: Room): void {
    this.#rooms.set(room.id, room);
    // Captured now: at `closed` time the room has already dropped its peers.
    const snapshot = (): { peerIds: string[]; workers: { index: number; pid: number }[] } => ({
      peerIds: room.peers().map((p) => p.id),
      workers: room.workers(),
    });
    let last = snapshot();
    const refresh = (): void => {
      last = snapshot();
    };
    room.on('peerjoined', refresh);
    room.on('peerleft', refresh);
    room.on('closed', ({ reason }) => {
      if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
      this.safeEmit('roomclosed', { roomId: room.id, reason });
      if (reason === 'worker-died' && !this.#closed) {
        void this.#recreate(room, last.peerIds, last.workers);
      }
    });
  }

  async #recreate(
    old: Room,
    peerIds: string[],
    previousWorkers: { index: number; pid: number }[],
  ): Promise<void> {
    try {
      const room = await this.#create(old.id, old.options);
      this.logger.warn('recreate() | room re-created after worker death', {
        roomId: old.id,
        peers: peerIds.length,
        workerPid: room.workers()[0]?.pid,
      });
      this.safeEmit('roomrecreated', {
        roomId: old.id,
        room,
        peerIds,
        previousWorkers,
        reason: 'worker-died',
      });
    } catch (err) {
      const error =
        err instanceof MediaError ? err : new MediaError('INTERNAL', String(err), { cause: err });
      this.logger.error('recreate() | cannot re-create room', {
        roomId: old.id,
        error: error.message,
      });
      this.safeEmit('roomrecreatefailed', { roomId: old.id, peerIds, error });
    }
  }
}
