import type { types as ms } from 'mediasoup';

import { DEFAULT_MEDIA_CODECS } from './MediaCodecs';
import { MediaError, toMediaError } from './MediaError';
import { silentLogger, type MediaLogger } from './MediaLogger';
import type { AudioLevel, ProducerInfo, RoomCloseReason, RoomStats } from './MediaTypes';
import { Peer, type PeerHost, type WebRtcTransportSettings } from './Peer';
import { AudioTap, type AudioTapOptions } from './AudioTap';
import { chooseRouterForPeer } from './Placement';
import type { RoomRouter } from './RoomRouter';
import { TypedEmitter } from './TypedEmitter';
import type { WorkerPool } from './WorkerPool';

/** Options of a room. */
export interface RoomOptions {
  /** Router codecs; default Opus only (`DEFAULT_MEDIA_CODECS`). */
  mediaCodecs?: ms.RtpCodecCapability[];
  /**
   * Consumers one router carries before new peers go to a router on another worker (joined with
   * `pipeToRouter`). Default 400, below mediasoup's ~500 consumers per worker.
   */
  consumersPerRouter?: number;
  /** Routers one room may span; default the pool size. */
  maxRouters?: number;
  /** A room without peers closes after this long, ms; default 300000; 0 never. */
  idleTimeoutMs?: number;
  /** AudioLevelObserver settings. */
  audioLevel?: {
    /** ms between reports; default 800 */
    intervalMs?: number;
    /** dBov below which a producer counts as silent; default -70 */
    threshold?: number;
    /** Loudest producers reported per interval; default 5 */
    maxEntries?: number;
  };
  /** Applied to every WebRTC transport. */
  webRtcTransport?: WebRtcTransportSettings;
  /** IP for PipeTransports between a room's routers; default 127.0.0.1 (same host). */
  pipeListenIp?: string;
  /** Voice settings (live transcription, speech into the room); see {@link RoomVoiceSettings}. */
  voice?: RoomVoiceSettings;
}

/**
 * What the voice loop does in a room. The room only keeps them (they change when the room is
 * opened again with other options: `voicechanged`); the SFU's voice services act on them.
 */
export interface RoomVoiceSettings {
  /** Tap every audio producer for live transcription. */
  transcription?: boolean;
  /** Transcription language (`auto` detects). */
  language?: string;
  /** Stop speech into the room when a participant starts speaking (default true). */
  bargeIn?: boolean;
  /** Default voice of speech into the room. */
  ttsVoice?: string;
}

/** Events of a room. Payloads are plain data so they can go straight onto NATS. */
export type RoomEvents = {
  peerjoined: [{ peerId: string }];
  peerleft: [{ peerId: string }];
  newproducer: [ProducerInfo];
  producerclosed: [{ peerId: string; producerId: string }];
  producerpaused: [{ peerId: string; producerId: string; paused: boolean }];
  /** A consumer closed by the server (its producer closed); the client must drop it. */
  consumerclosed: [
    { peerId: string; consumerId: string; producerId: string; reason: 'producerclosed' },
  ];
  /** A consumer's producer was paused or resumed. */
  consumerproducerpaused: [
    { peerId: string; consumerId: string; producerId: string; paused: boolean },
  ];
  /** ICE disconnected/closed or DTLS failed/closed on a peer's transport. */
  transportfailed: [{ peerId: string; transportId: string; state: string }];
  /** Loudest audio producers, loudest first. */
  audiolevels: [AudioLevel[]];
  /** The loudest producer changed. */
  activespeaker: [AudioLevel];
  /** No producer is above the threshold any more. */
  silence: [];
  /** The voice settings changed (`configureVoice`). */
  voicechanged: [RoomVoiceSettings];
  /** The room closed; every peer, transport, producer and consumer is gone. */
  closed: [{ reason: RoomCloseReason }];
};

/**
 * A room: a router on the least-loaded worker (more routers, joined with `pipeToRouter`, when it
 * outgrows `consumersPerRouter`), its peers, an AudioLevelObserver per router for levels and the
 * active speaker, and an idle timeout. `close()` is idempotent and frees everything; every call on
 * a closed room fails with `ROOM_CLOSED`. A worker death closes the room with reason
 * `worker-died` (the `RoomManager` re-creates it).
 */
export class Room extends TypedEmitter<RoomEvents> {
  /** Room id. */
  readonly id: string;
  /** Creation time, epoch ms. */
  readonly createdAt = Date.now();
  /** The options the room was created with (used to re-create it). */
  readonly options: RoomOptions;

  readonly #pool: WorkerPool;
  readonly #routers: RoomRouter[] = [];
  readonly #peers = new Map<string, Peer>();
  readonly #joining = new Set<string>();
  // Joins in flight by peer id, so concurrent `getOrJoin` calls for one peer share one join.
  readonly #joins = new Map<string, Promise<Peer>>();
  // `${producerId}>${routerId}` -> pipe in progress or done; one pipe per producer and router.
  readonly #pipes = new Map<string, Promise<void>>();
  readonly #host: PeerHost;
  // Loudest entry per router, to elect one active speaker across routers.
  readonly #loudest = new Map<string, AudioLevel>();
  #activeSpeaker?: AudioLevel;
  #idleTimer?: NodeJS.Timeout;
  #closed = false;

  private constructor(id: string, pool: WorkerPool, options: RoomOptions, logger: MediaLogger) {
    super(logger);
    this.id = id;
    this.#pool = pool;
    this.options = options;
    this.#host = this.#makeHost();
  }

  /** Creates a room with its first router on the least-loaded worker. */
  static async create(
    id: string,
    pool: WorkerPool,
    options: RoomOptions = {},
    logger: MediaLogger = silentLogger,
  ): Promise<Room> {
    if (typeof id !== 'string' || id.length === 0) {
      throw new MediaError('BAD_REQUEST', 'room id must be a non-empty string');
    }
    const room = new Room(id, pool, options, logger);
    await room.#addRouter();
    room.#armIdleTimer();
    logger.info('Room.create() | room created', {
      roomId: id,
      workerPid: room.#routers[0]?.worker.pid,
    });
    return room;
  }

  /** Whether the room is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The room's voice settings (empty when none were given). */
  get voice(): RoomVoiceSettings {
    return this.options.voice ?? {};
  }

  /**
   * Replaces the voice settings (the room was opened again with other options); emits
   * `voicechanged` when they differ. Fields left out keep their value.
   */
  configureVoice(settings: RoomVoiceSettings): void {
    this.#assertOpen();
    const next: RoomVoiceSettings = { ...this.options.voice };
    for (const [k, v] of Object.entries(settings) as [keyof RoomVoiceSettings, never][]) {
      if (v !== undefined) next[k] = v;
    }
    const before = JSON.stringify(this.options.voice ?? {});
    this.options.voice = next;
    if (JSON.stringify(next) !== before) this.safeEmit('voicechanged', next);
  }

  /**
   * Consumes audio producers server-side (a DirectTransport on the room's first router) and
   * streams them as 16 kHz PCM: see {@link AudioTap}. Closed with the room.
   */
  async createAudioTap(options: AudioTapOptions = {}): Promise<AudioTap> {
    this.#assertOpen();
    const [router] = this.#routers;
    if (!router) throw new MediaError('INVALID_STATE', `room "${this.id}" has no router`);
    return AudioTap.create(
      {
        room: this,
        router,
        logger: this.logger,
        ensureOnRouter: (producerId) => this.#pipe(producerId, router),
      },
      options,
    );
  }

  /** The routers' RTP capabilities (identical on every router of the room). */
  get rtpCapabilities(): ms.RtpCapabilities {
    this.#assertOpen();
    const [first] = this.#routers;
    if (!first) throw new MediaError('INVALID_STATE', `room "${this.id}" has no router`);
    return first.router.rtpCapabilities;
  }

  /** Peers currently in the room. */
  peers(): Peer[] {
    return [...this.#peers.values()];
  }

  /** Pool slot indices and pids of the workers this room's routers run on. */
  workers(): { index: number; pid: number }[] {
    return this.#routers.map((r) => ({ index: r.worker.index, pid: r.worker.pid }));
  }

  /** Number of routers (more than one once the room spilled over to other workers). */
  get routerCount(): number {
    return this.#routers.length;
  }

  /** Every producer in the room, e.g. for a joining peer to consume. */
  producers(): ProducerInfo[] {
    return this.peers().flatMap((peer) =>
      peer
        .producerList()
        .map((p) => ({ id: p.id, peerId: peer.id, kind: p.kind, paused: p.paused })),
    );
  }

  /**
   * Adds a peer, placing it on the least-loaded router of the room or, past the consumer
   * threshold, on a new router on another worker.
   */
  async join(
    peerId: string,
    options: { rtpCapabilities?: ms.RtpCapabilities; appData?: Record<string, unknown> } = {},
  ): Promise<Peer> {
    this.#assertOpen();
    if (typeof peerId !== 'string' || peerId.length === 0) {
      throw new MediaError('BAD_REQUEST', 'peer id must be a non-empty string');
    }
    if (this.#peers.has(peerId) || this.#joining.has(peerId)) {
      throw new MediaError('ALREADY_EXISTS', `peer "${peerId}" already joined room "${this.id}"`);
    }
    this.#joining.add(peerId);
    try {
      const router = await this.#routerForNewPeer();
      this.#assertOpen();
      const peer = new Peer(peerId, this.#host, router, options);
      this.#peers.set(peerId, peer);
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
      this.logger.debug('join() | peer joined', {
        roomId: this.id,
        peerId,
        routerId: router.router.id,
        workerIndex: router.worker.index,
      });
      this.safeEmit('peerjoined', { peerId });
      return peer;
    } finally {
      this.#joining.delete(peerId);
    }
  }

  /**
   * The peer with that id, joining it first if absent. Concurrent calls for one new peer (a client
   * creating its send and receive transports at once) share a single join.
   */
  async getOrJoin(
    peerId: string,
    options: { rtpCapabilities?: ms.RtpCapabilities; appData?: Record<string, unknown> } = {},
  ): Promise<Peer> {
    this.#assertOpen();
    const existing = this.#peers.get(peerId);
    if (existing) return existing;
    let pending = this.#joins.get(peerId);
    if (!pending) {
      pending = this.join(peerId, options).finally(() => this.#joins.delete(peerId));
      this.#joins.set(peerId, pending);
    }
    return pending;
  }

  /** The peer with that id, if it is in the room. */
  findPeer(peerId: string): Peer | undefined {
    return this.#closed ? undefined : this.#peers.get(peerId);
  }

  /** Restarts the idle countdown of a room without peers (someone just asked for it again). */
  touch(): void {
    this.#assertOpen();
    if (this.#peers.size === 0 && this.#joining.size === 0) this.#armIdleTimer();
  }

  /** Entity counts, without asking the worker (cheap; for replies and metrics). */
  counts(): { peers: number; transports: number; producers: number; consumers: number } {
    const peers = this.peers();
    return {
      peers: peers.length,
      transports: peers.reduce((a, p) => a + p.transportIds.length, 0),
      producers: peers.reduce((a, p) => a + p.producerIds.length, 0),
      consumers: peers.reduce((a, p) => a + p.consumerIds.length, 0),
    };
  }

  /** The peer with that id (`NOT_FOUND` otherwise). */
  getPeer(peerId: string): Peer {
    this.#assertOpen();
    const peer = this.#peers.get(peerId);
    if (!peer) throw MediaError.notFound('peer', String(peerId));
    return peer;
  }

  /** Removes a peer and everything it had (`NOT_FOUND` if absent). */
  leave(peerId: string): void {
    this.getPeer(peerId).close();
  }

  /** Closes the room and frees every router, transport, producer and consumer. Idempotent. */
  close(reason: RoomCloseReason = 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    const peers = [...this.#peers.values()];
    this.#peers.clear();
    for (const peer of peers) peer.close();
    for (const r of this.#routers) r.router.close();
    this.#pipes.clear();
    this.logger.info('close() | room closed', { roomId: this.id, reason });
    this.safeEmit('closed', { reason });
    this.removeAllListeners();
  }

  /** Statistics of every transport, producer and consumer, with room totals. */
  async getStats(): Promise<RoomStats> {
    this.#assertOpen();
    const per = await Promise.all(this.peers().map((p) => p.getStats()));
    const transports = per.flatMap((s) => s.transports);
    const producers = per.flatMap((s) => s.producers);
    const consumers = per.flatMap((s) => s.consumers);
    const producerPacketsLost = producers.reduce((a, p) => a + Math.max(0, p.packetsLost), 0);
    const received = producers.reduce((a, p) => a + p.packetCount, 0);
    return {
      roomId: this.id,
      createdAt: this.createdAt,
      peers: this.#peers.size,
      routers: this.#routers.map((r) => ({
        id: r.router.id,
        workerIndex: r.worker.index,
        workerPid: r.worker.pid,
        consumers: r.consumers,
      })),
      transports,
      producers,
      consumers,
      totals: {
        recvBitrate: transports.reduce((a, t) => a + t.recvBitrate, 0),
        sendBitrate: transports.reduce((a, t) => a + t.sendBitrate, 0),
        producerPacketsLost,
        consumerPacketsLost: consumers.reduce((a, c) => a + Math.max(0, c.packetsLost), 0),
        producerLossPct:
          received + producerPacketsLost > 0
            ? (100 * producerPacketsLost) / (received + producerPacketsLost)
            : 0,
      },
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw new MediaError('ROOM_CLOSED', `room "${this.id}" is closed`);
  }

  async #routerForNewPeer(): Promise<RoomRouter> {
    const choice = chooseRouterForPeer(
      this.#routers.map((r) => r.consumers),
      this.options.consumersPerRouter ?? 400,
      this.options.maxRouters ?? this.#pool.size,
    );
    const existing = choice.kind === 'existing' ? this.#routers[choice.index] : undefined;
    return existing ?? this.#addRouter();
  }

  async #addRouter(): Promise<RoomRouter> {
    const avoid = new Set(this.#routers.map((r) => r.worker.index));
    const { worker, router } = await this.#pool.createRouter(
      this.id,
      this.options.mediaCodecs ?? DEFAULT_MEDIA_CODECS,
      avoid,
    );
    let audioLevelObserver: ms.AudioLevelObserver;
    try {
      const al = this.options.audioLevel ?? {};
      audioLevelObserver = await router.createAudioLevelObserver({
        interval: al.intervalMs ?? 800,
        threshold: al.threshold ?? -70,
        maxEntries: al.maxEntries ?? 5,
      });
    } catch (err) {
      router.close();
      throw toMediaError(err);
    }
    if (this.#closed) {
      router.close();
      this.#assertOpen();
    }
    const entry: RoomRouter = { router, worker, audioLevelObserver, consumers: 0 };
    this.#routers.push(entry);
    router.on('workerclose', () => this.close('worker-died'));
    audioLevelObserver.on('volumes', (volumes) => this.#onVolumes(router.id, volumes));
    audioLevelObserver.on('silence', () => this.#onSilence(router.id));
    if (this.#routers.length > 1) {
      this.logger.info('addRouter() | room spans another worker', {
        roomId: this.id,
        routers: this.#routers.length,
        workerIndex: worker.index,
      });
    }
    return entry;
  }

  #armIdleTimer(): void {
    const ms = this.options.idleTimeoutMs ?? 300_000;
    if (ms <= 0 || this.#closed) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#peers.size === 0 && this.#joining.size === 0) this.close('idle');
    }, ms);
    // An idle room must never keep the process (or jest) alive.
    this.#idleTimer.unref();
  }

  #onVolumes(routerId: string, volumes: ms.AudioLevelObserverVolume[]): void {
    const levels: AudioLevel[] = volumes.map((v) => ({
      peerId: String(v.producer.appData['peerId'] ?? ''),
      producerId: v.producer.id,
      volume: v.volume,
    }));
    const [loudest] = levels;
    if (!loudest) return;
    this.safeEmit('audiolevels', levels);
    this.#loudest.set(routerId, loudest);
    this.#electSpeaker();
  }

  #onSilence(routerId: string): void {
    this.#loudest.delete(routerId);
    if (this.#loudest.size === 0 && this.#activeSpeaker) {
      this.#activeSpeaker = undefined;
      this.safeEmit('silence');
      return;
    }
    this.#electSpeaker();
  }

  #electSpeaker(): void {
    let best: AudioLevel | undefined;
    for (const l of this.#loudest.values()) if (!best || l.volume > best.volume) best = l;
    if (best && best.producerId !== this.#activeSpeaker?.producerId) {
      this.#activeSpeaker = best;
      this.safeEmit('activespeaker', best);
    }
  }

  #makeHost(): PeerHost {
    // Peer only sees this narrow surface of the room.
    const host: PeerHost = {
      roomId: this.id,
      transportSettings: this.options.webRtcTransport ?? {},
      logger: this.logger,
      assertOpen: () => this.#assertOpen(),
      findProducer: (producerId) => {
        for (const peer of this.#peers.values()) {
          const producer = peer.producer(producerId);
          if (producer) return { peer, producer };
        }
        throw MediaError.notFound('producer', String(producerId));
      },
      ensureProducerOnRouter: (producerId, target) => this.#pipe(producerId, target),
      onProducerCreated: (peer, producer) => {
        if (producer.kind === 'audio') {
          const owner = peer.roomRouter;
          owner.audioLevelObserver.addProducer({ producerId: producer.id }).catch((err) =>
            this.logger.warn('onProducerCreated() | cannot observe audio level', {
              roomId: this.id,
              producerId: producer.id,
              error: err instanceof Error ? err.message : String(err),
            }),
          );
        }
        this.safeEmit('newproducer', {
          id: producer.id,
          peerId: peer.id,
          kind: producer.kind,
          paused: producer.paused,
        });
      },
      onProducerClosed: (peer, producer) => {
        for (const key of this.#pipes.keys()) {
          if (key.startsWith(`${producer.id}>`)) this.#pipes.delete(key);
        }
        if (!this.#closed)
          this.safeEmit('producerclosed', { peerId: peer.id, producerId: producer.id });
      },
      onProducerPauseChanged: (peer, producer) =>
        this.safeEmit('producerpaused', {
          peerId: peer.id,
          producerId: producer.id,
          paused: producer.paused,
        }),
      onConsumerClosedByServer: (peer, consumer, reason) => {
        if (!this.#closed) {
          this.safeEmit('consumerclosed', {
            peerId: peer.id,
            consumerId: consumer.id,
            producerId: consumer.producerId,
            reason,
          });
        }
      },
      onConsumerProducerPause: (peer, consumer, paused) =>
        this.safeEmit('consumerproducerpaused', {
          peerId: peer.id,
          consumerId: consumer.id,
          producerId: consumer.producerId,
          paused,
        }),
      onTransportFailed: (peer, transportId, state) => {
        if (!this.#closed && !peer.closed) {
          this.safeEmit('transportfailed', { peerId: peer.id, transportId, state });
        }
      },
      onPeerClosed: (peer) => {
        if (this.#closed) return;
        this.#peers.delete(peer.id);
        this.safeEmit('peerleft', { peerId: peer.id });
        if (this.#peers.size === 0) this.#armIdleTimer();
      },
    };
    return host;
  }

  async #pipe(producerId: string, target: RoomRouter): Promise<void> {
    const { peer } = this.#host.findProducer(producerId);
    const source = peer.roomRouter;
    if (source === target) return;
    const key = `${producerId}>${target.router.id}`;
    let pending = this.#pipes.get(key);
    if (!pending) {
      pending = source.router
        .pipeToRouter({
          producerId,
          router: target.router,
          listenInfo: { protocol: 'udp', ip: this.options.pipeListenIp ?? '127.0.0.1' },
        })
        .then(() => undefined);
      this.#pipes.set(key, pending);
      pending.catch(() => this.#pipes.delete(key));
    }
    try {
      await pending;
    } catch (err) {
      throw toMediaError(err);
    }
  }
}
