import type { types as ms } from 'mediasoup';

import { MediaError, toMediaError } from './MediaError';
import type { MediaLogger } from './MediaLogger';
import type {
  ConsumerInfo,
  ConsumerStats,
  ProducerStats,
  TransportStats,
  WebRtcTransportInfo,
} from './MediaTypes';
import type { RoomRouter } from './RoomRouter';

/** WebRTC transport settings applied to every transport of a room. */
export interface WebRtcTransportSettings {
  enableUdp?: boolean;
  enableTcp?: boolean;
  preferUdp?: boolean;
  /** bits per second */
  initialAvailableOutgoingBitrate?: number;
  /** Cap on what one transport may receive, bits per second. */
  maxIncomingBitrate?: number;
}

/**
 * What a peer needs from its room; the room implements it. Keeps Peer free of the room's
 * internals and lets the room own every cross-peer concern (producer lookup, piping, events).
 */
export interface PeerHost {
  readonly roomId: string;
  readonly transportSettings: WebRtcTransportSettings;
  readonly logger: MediaLogger;
  /** Throws `ROOM_CLOSED` once the room is closed. */
  assertOpen(): void;
  /** The producer with that id anywhere in the room (NOT_FOUND otherwise). */
  findProducer(producerId: string): { peer: Peer; producer: ms.Producer };
  /** Makes a producer available on `router` (pipeToRouter across routers, cached). */
  ensureProducerOnRouter(producerId: string, router: RoomRouter): Promise<void>;
  onProducerCreated(peer: Peer, producer: ms.Producer): void;
  onProducerClosed(peer: Peer, producer: ms.Producer): void;
  onProducerPauseChanged(peer: Peer, producer: ms.Producer): void;
  onConsumerClosedByServer(peer: Peer, consumer: ms.Consumer, reason: 'producerclosed'): void;
  onConsumerProducerPause(peer: Peer, consumer: ms.Consumer, paused: boolean): void;
  onTransportFailed(peer: Peer, transportId: string, state: string): void;
  onPeerClosed(peer: Peer): void;
}

interface TransportEntry {
  transport: ms.WebRtcTransport;
  // Set before the connect() call is sent so concurrent second calls fail fast and typed.
  connected: boolean;
}

/** Options of `peer.produce()`. */
export interface ProduceOptions {
  transportId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  /** Start paused (a muted microphone); default false. */
  paused?: boolean;
  appData?: Record<string, unknown>;
}

/** Options of `peer.consume()`. */
export interface ConsumeOptions {
  transportId: string;
  producerId: string;
  /** The consuming device's capabilities; defaults to those given at join. */
  rtpCapabilities?: ms.RtpCapabilities;
}

/**
 * A participant of a room: its WebRTC transports, producers and consumers, all on the router the
 * room assigned at join. Every method throws `MediaError`; nothing here can crash the worker.
 */
export class Peer {
  /** Peer id, unique in the room. */
  readonly id: string;
  /** Free-form data given at join (display name, role, ...). */
  readonly appData: Record<string, unknown>;
  /** The device's RTP capabilities, if given at join. */
  rtpCapabilities?: ms.RtpCapabilities;

  readonly #host: PeerHost;
  readonly #router: RoomRouter;
  readonly #transports = new Map<string, TransportEntry>();
  readonly #producers = new Map<string, ms.Producer>();
  readonly #consumers = new Map<string, ms.Consumer>();
  // DirectTransports of server-side producers (produceDirect); closed with the peer.
  readonly #directTransports = new Set<ms.DirectTransport>();
  #closed = false;

  /** @internal Created by `Room.join()`. */
  constructor(
    id: string,
    host: PeerHost,
    router: RoomRouter,
    options: { rtpCapabilities?: ms.RtpCapabilities; appData?: Record<string, unknown> },
  ) {
    this.id = id;
    this.#host = host;
    this.#router = router;
    this.rtpCapabilities = options.rtpCapabilities;
    this.appData = options.appData ?? {};
  }

  /** Whether the peer left or its room closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal The router this peer's transports live on. */
  get roomRouter(): RoomRouter {
    return this.#router;
  }

  /** Ids of this peer's live transports / producers / consumers. */
  get transportIds(): string[] {
    return [...this.#transports.keys()];
  }
  get producerIds(): string[] {
    return [...this.#producers.keys()];
  }
  get consumerIds(): string[] {
    return [...this.#consumers.keys()];
  }

  /** @internal This peer's live producers. */
  producerList(): ms.Producer[] {
    return [...this.#producers.values()];
  }

  /** @internal A producer of this peer, if any. */
  producer(producerId: string): ms.Producer | undefined {
    return this.#producers.get(producerId);
  }

  /** Creates a WebRTC transport on the worker's WebRtcServer (ICE-lite, DTLS role auto). */
  async createWebRtcTransport(
    options: { appData?: Record<string, unknown> } = {},
  ): Promise<WebRtcTransportInfo> {
    this.#assertOpen();
    const s = this.#host.transportSettings;
    let transport: ms.WebRtcTransport;
    try {
      transport = await this.#router.router.createWebRtcTransport({
        webRtcServer: this.#router.worker.webRtcServer,
        enableUdp: s.enableUdp ?? true,
        enableTcp: s.enableTcp ?? true,
        preferUdp: s.preferUdp ?? true,
        initialAvailableOutgoingBitrate: s.initialAvailableOutgoingBitrate,
        appData: { ...options.appData, peerId: this.id },
      });
    } catch (err) {
      throw toMediaError(err);
    }
    if (this.#closed) {
      transport.close();
      this.#assertOpen();
    }
    if (s.maxIncomingBitrate) {
      await transport.setMaxIncomingBitrate(s.maxIncomingBitrate).catch(() => undefined);
    }
    this.#transports.set(transport.id, { transport, connected: false });
    transport.observer.on('close', () => this.#transports.delete(transport.id));
    transport.on('icestatechange', (state) => {
      if (state === 'disconnected' || state === 'closed') {
        this.#host.onTransportFailed(this, transport.id, `ice-${state}`);
      }
    });
    transport.on('dtlsstatechange', (state) => {
      if (state === 'failed' || state === 'closed') {
        this.#host.onTransportFailed(this, transport.id, `dtls-${state}`);
      }
    });
    this.#host.logger.debug('createWebRtcTransport() | transport created', {
      roomId: this.#host.roomId,
      peerId: this.id,
      transportId: transport.id,
    });
    return {
      id: transport.id,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
    };
  }

  /** Gives the transport the client's DTLS parameters. A second call fails `ALREADY_CONNECTED`. */
  async connectTransport(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    const entry = this.#transportEntry(transportId);
    if (entry.connected) {
      throw new MediaError('ALREADY_CONNECTED', `transport "${transportId}" is already connected`);
    }
    if (
      !dtlsParameters ||
      !Array.isArray(dtlsParameters.fingerprints) ||
      dtlsParameters.fingerprints.length === 0
    ) {
      throw new MediaError('BAD_REQUEST', 'dtlsParameters.fingerprints must be a non-empty array');
    }
    entry.connected = true;
    try {
      await entry.transport.connect({ dtlsParameters });
    } catch (err) {
      entry.connected = false;
      throw toMediaError(err);
    }
  }

  /** New ICE credentials for a transport (after a network change). */
  async restartIce(transportId: string): Promise<ms.IceParameters> {
    const { transport } = this.#transportEntry(transportId);
    try {
      return await transport.restartIce();
    } catch (err) {
      throw toMediaError(err);
    }
  }

  /** Closes a transport and everything produced/consumed on it. */
  closeTransport(transportId: string): void {
    this.#transportEntry(transportId).transport.close();
  }

  /** Starts receiving media from the client; returns the producer id. */
  async produce(options: ProduceOptions): Promise<{ id: string }> {
    const { transport } = this.#transportEntry(options.transportId);
    if (options.kind !== 'audio' && options.kind !== 'video') {
      throw new MediaError('BAD_REQUEST', `kind must be "audio" or "video"`);
    }
    if (!options.rtpParameters || typeof options.rtpParameters !== 'object') {
      throw new MediaError('BAD_RTP_PARAMETERS', 'rtpParameters must be an object');
    }
    let producer: ms.Producer;
    try {
      producer = await transport.produce({
        kind: options.kind,
        rtpParameters: options.rtpParameters,
        paused: options.paused === true,
        appData: { ...options.appData, peerId: this.id },
      });
    } catch (err) {
      throw toMediaError(err, 'BAD_RTP_PARAMETERS');
    }
    if (this.#closed) {
      producer.close();
      this.#assertOpen();
    }
    this.#producers.set(producer.id, producer);
    producer.observer.on('close', () => {
      this.#producers.delete(producer.id);
      this.#host.onProducerClosed(this, producer);
    });
    this.#host.onProducerCreated(this, producer);
    return { id: producer.id };
  }

  /**
   * Creates a server-side producer on a DirectTransport of this peer's router: the SFU itself
   * sends its RTP (`producer.send()`), e.g. speech played into the room. It is announced and
   * consumed like any other producer. Closing the peer closes it.
   */
  async produceDirect(options: {
    kind: ms.MediaKind;
    rtpParameters: ms.RtpParameters;
    appData?: Record<string, unknown>;
  }): Promise<ms.Producer> {
    this.#assertOpen();
    let transport: ms.DirectTransport;
    let producer: ms.Producer;
    try {
      transport = await this.#router.router.createDirectTransport({
        maxMessageSize: 262_144,
        appData: { peerId: this.id, direct: true },
      });
    } catch (err) {
      throw toMediaError(err);
    }
    this.#directTransports.add(transport);
    transport.observer.on('close', () => this.#directTransports.delete(transport));
    try {
      producer = await transport.produce({
        kind: options.kind,
        rtpParameters: options.rtpParameters,
        appData: { ...options.appData, peerId: this.id },
      });
    } catch (err) {
      transport.close();
      throw toMediaError(err, 'BAD_RTP_PARAMETERS');
    }
    if (this.#closed) {
      transport.close();
      this.#assertOpen();
    }
    this.#producers.set(producer.id, producer);
    producer.observer.on('close', () => {
      this.#producers.delete(producer.id);
      transport.close();
      this.#host.onProducerClosed(this, producer);
    });
    this.#host.onProducerCreated(this, producer);
    return producer;
  }

  /** Stops a producer; its consumers are closed (`consumerclosed` events). */
  closeProducer(producerId: string): void {
    this.#producerOf(producerId).close();
  }

  /** Pauses a producer (its consumers stop receiving). */
  async pauseProducer(producerId: string): Promise<void> {
    const producer = this.#producerOf(producerId);
    await producer.pause().catch((err: unknown) => Promise.reject(toMediaError(err)));
    this.#host.onProducerPauseChanged(this, producer);
  }

  /** Resumes a paused producer. */
  async resumeProducer(producerId: string): Promise<void> {
    const producer = this.#producerOf(producerId);
    await producer.resume().catch((err: unknown) => Promise.reject(toMediaError(err)));
    this.#host.onProducerPauseChanged(this, producer);
  }

  /**
   * Consumes another peer's producer on one of this peer's transports. The consumer starts paused
   * (the client resumes it once its track is wired, so no key media is lost); call
   * `resumeConsumer`. Piping across routers happens here when the producer lives elsewhere.
   */
  async consume(options: ConsumeOptions): Promise<ConsumerInfo> {
    const { transport } = this.#transportEntry(options.transportId);
    const rtpCapabilities = options.rtpCapabilities ?? this.rtpCapabilities;
    if (!rtpCapabilities || typeof rtpCapabilities !== 'object') {
      throw new MediaError('BAD_REQUEST', 'rtpCapabilities are required to consume');
    }
    const owner = this.#host.findProducer(options.producerId);
    await this.#host.ensureProducerOnRouter(options.producerId, this.#router);
    this.#assertOpen();
    const router = this.#router.router;
    if (!router.canConsume({ producerId: options.producerId, rtpCapabilities })) {
      throw new MediaError(
        'CANNOT_CONSUME',
        `rtpCapabilities cannot consume producer "${options.producerId}"`,
      );
    }
    let consumer: ms.Consumer;
    try {
      consumer = await transport.consume({
        producerId: options.producerId,
        rtpCapabilities,
        paused: true,
        appData: { peerId: this.id },
      });
    } catch (err) {
      throw toMediaError(err, 'CANNOT_CONSUME');
    }
    if (this.#closed) {
      consumer.close();
      this.#assertOpen();
    }
    this.#consumers.set(consumer.id, consumer);
    this.#router.consumers++;
    consumer.observer.on('close', () => {
      this.#consumers.delete(consumer.id);
      this.#router.consumers--;
    });
    consumer.on('producerclose', () => {
      this.#host.onConsumerClosedByServer(this, consumer, 'producerclosed');
    });
    consumer.on('producerpause', () => this.#host.onConsumerProducerPause(this, consumer, true));
    consumer.on('producerresume', () => this.#host.onConsumerProducerPause(this, consumer, false));
    return {
      id: consumer.id,
      producerId: consumer.producerId,
      producerPeerId: owner.peer.id,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  /** Starts sending a consumer's media to the client. */
  async resumeConsumer(consumerId: string): Promise<void> {
    await this.#consumerOf(consumerId)
      .resume()
      .catch((err: unknown) => Promise.reject(toMediaError(err)));
  }

  /** Stops sending a consumer's media without closing it. */
  async pauseConsumer(consumerId: string): Promise<void> {
    await this.#consumerOf(consumerId)
      .pause()
      .catch((err: unknown) => Promise.reject(toMediaError(err)));
  }

  /** Closes a consumer. */
  closeConsumer(consumerId: string): void {
    this.#consumerOf(consumerId).close();
  }

  /** Leaves the room: closes every transport (and with them producers and consumers). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const { transport } of this.#transports.values()) transport.close();
    this.#transports.clear();
    for (const transport of this.#directTransports) transport.close();
    this.#directTransports.clear();
    this.#host.onPeerClosed(this);
  }

  /** Transport, producer and consumer statistics; entities closing meanwhile are skipped. */
  async getStats(): Promise<{
    transports: TransportStats[];
    producers: ProducerStats[];
    consumers: ConsumerStats[];
  }> {
    const transports = await Promise.all(
      [...this.#transports.values()].map(async ({ transport }) => {
        const [s] = await transport.getStats().catch(() => []);
        if (!s) return undefined;
        return {
          id: transport.id,
          peerId: this.id,
          iceState: transport.iceState,
          dtlsState: transport.dtlsState,
          bytesReceived: s.bytesReceived,
          bytesSent: s.bytesSent,
          recvBitrate: s.recvBitrate,
          sendBitrate: s.sendBitrate,
        } satisfies TransportStats;
      }),
    );
    const producers = await Promise.all(
      [...this.#producers.values()].map(async (p) => {
        const list = await p.getStats().catch(() => []);
        const sum = sumStreams(list);
        return {
          id: p.id,
          peerId: this.id,
          kind: p.kind,
          paused: p.paused,
          mimeType: list[0]?.mimeType,
          jitter: list[0]?.jitter ?? 0,
          ...sum,
        } satisfies ProducerStats;
      }),
    );
    const consumers = await Promise.all(
      [...this.#consumers.values()].map(async (c) => {
        const list = await c.getStats().catch(() => []);
        // A consumer's stats hold its outbound stream and, for pipe consumers, an inbound copy.
        const outbound = list.filter((s) => s.type === 'outbound-rtp');
        return {
          id: c.id,
          peerId: this.id,
          producerId: c.producerId,
          paused: c.paused,
          producerPaused: c.producerPaused,
          mimeType: outbound[0]?.mimeType,
          ...sumStreams(outbound),
        } satisfies ConsumerStats;
      }),
    );
    return {
      transports: transports.filter((t): t is TransportStats => !!t),
      producers,
      consumers,
    };
  }

  #assertOpen(): void {
    this.#host.assertOpen();
    if (this.#closed) throw new MediaError('INVALID_STATE', `peer "${this.id}" has left the room`);
  }

  #transportEntry(transportId: string): TransportEntry {
    this.#assertOpen();
    const entry = this.#transports.get(transportId);
    if (!entry) throw MediaError.notFound('transport', String(transportId));
    return entry;
  }

  #producerOf(producerId: string): ms.Producer {
    this.#assertOpen();
    const producer = this.#producers.get(producerId);
    if (!producer) throw MediaError.notFound('producer', String(producerId));
    return producer;
  }

  #consumerOf(consumerId: string): ms.Consumer {
    this.#assertOpen();
    const consumer = this.#consumers.get(consumerId);
    if (!consumer) throw MediaError.notFound('consumer', String(consumerId));
    return consumer;
  }
}

function sumStreams(
  list: {
    bitrate: number;
    packetCount: number;
    byteCount: number;
    packetsLost: number;
    fractionLost: number;
    score: number;
  }[],
): Pick<
  ProducerStats,
  'bitrate' | 'packetCount' | 'byteCount' | 'packetsLost' | 'fractionLost' | 'score'
> {
  let bitrate = 0;
  let packetCount = 0;
  let byteCount = 0;
  let packetsLost = 0;
  let fractionLost = 0;
  let score = list.length ? 10 : 0;
  for (const s of list) {
    bitrate += s.bitrate;
    packetCount += s.packetCount;
    byteCount += s.byteCount;
    packetsLost += s.packetsLost;
    // RTCP fraction lost is an 8-bit fixed-point fraction (0..255).
    fractionLost = Math.max(fractionLost, s.fractionLost / 256);
    score = Math.min(score, s.score);
  }
  return { bitrate, packetCount, byteCount, packetsLost, fractionLost, score };
}
