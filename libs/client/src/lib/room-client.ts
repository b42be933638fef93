import {
  AGENT_PEER_ID,
  type LeaveReason,
  type PeerInfo,
  type ProducerInfo,
  type Role,
  type WsNotificationData,
  type WsRequestData,
  type WsResponseData,
} from '@parley/contracts';
import { Device, type types as ms } from 'mediasoup-client';
import { Emitter } from './emitter';
import {
  type SpeechBurst,
  SpeechEndMatcher,
  type SpeechEndMatcherOptions,
} from './speech-end-matcher';
import {
  ProtocolError,
  SignalingClient,
  type SignalingClientOptions,
  type WebSocketConstructor,
} from './signaling-client';

/** Options of {@link RoomClient}. */
export interface RoomClientOptions {
  /** WebSocket URL without the token (`wsUrl` of `POST /v1/tokens`), e.g. `wss://host/v1/ws`. */
  url: string;
  /** Participant token. */
  token: string;
  /** Name shown to others (default: the token's). */
  displayName?: string;
  /** WebSocket implementation (default `globalThis.WebSocket`; pass `ws` on Node). */
  WebSocket?: WebSocketConstructor;
  /**
   * mediasoup-client handler factory (Node: a handler over a WebRTC stack such as
   * `@roamhq/wrtc`; tests: `FakeHandler`). Default: detected from the browser.
   */
  handlerFactory?: ms.HandlerFactory;
  /** A built-in mediasoup-client handler by name (instead of detection). */
  handlerName?: ms.BuiltinHandlerName;
  /** Consume every producer of the room as it appears (default true). */
  autoSubscribe?: boolean;
  /** ICE servers for both transports (default none: the SFU is ICE-lite and reachable). */
  iceServers?: RTCIceServer[];
  /** Signaling knobs (request deadline, reconnect policy). */
  signaling?: Pick<
    SignalingClientOptions,
    'requestTimeoutMs' | 'reconnect' | 'maxReconnectAttempts' | 'reconnectDelayMs' | 'meta'
  >;
  /** Monotonic clock in ms for latencies (default `performance.now()`). */
  now?: () => number;
  /** How own speech bursts are matched to finals for the `eosToFinal` latency. */
  speechEnd?: SpeechEndMatcherOptions;
  /** How often `say` latency polls the agent consumer's stats (default 10 ms). */
  firstAudioPollMs?: number;
  /** Listener errors (default: ignored). */
  onListenerError?: (err: unknown) => void;
}

/** Lifecycle of a {@link RoomClient}. */
export type RoomState = 'new' | 'joining' | 'joined' | 'reconnecting' | 'closed';

/** A participant as the client sees it (the server-side agent included). */
export interface Participant {
  peerId: string;
  identity: string;
  displayName?: string;
  /** The participant's role; `agent` for the server-side speaker. */
  role: Role | 'agent';
  /** This client. */
  isLocal: boolean;
  /** The server-side participant that plays speech into the room. */
  isAgent: boolean;
  /** Whether the SFU (or, for the agent, a running speech request) says it is speaking. */
  speaking: boolean;
  /** Last reported level while speaking (dBov, 0 loudest). */
  dBov?: number;
  /** Producers of this participant the client knows of. */
  producerIds: string[];
}

/** A consumed remote track. */
export interface RemoteTrack {
  consumerId: string;
  producerId: string;
  peerId: string;
  kind: 'audio' | 'video';
  track: MediaStreamTrack;
  /** Producer paused (muted) at its source. */
  paused: boolean;
}

/** A transcript notification with the client's receive time. */
export type TranscriptEvent = WsNotificationData<'transcriptFinal'> & {
  final: boolean;
  /** Client clock when it arrived (ms, {@link RoomClientOptions.now}). */
  receivedAt: number;
  /** This client's own speech. */
  isLocal: boolean;
};

/** A speech event (`ttsStarted` / `ttsEnded`) with the client's receive time. */
export type TtsEvent<N extends 'ttsStarted' | 'ttsEnded' = 'ttsStarted' | 'ttsEnded'> =
  WsNotificationData<N> & { receivedAt: number };

/** Which latency a {@link LatencySample} measured. */
export type LatencyKind = 'join' | 'eosToFinal' | 'sayToFirstAudio';

/** One measured latency. */
export interface LatencySample {
  kind: LatencyKind;
  ms: number;
  /** Client clock at the end of the measurement. */
  at: number;
  /** What it was measured on (utterance id, speech request id). */
  ref?: string;
}

/** Inbound RTP statistics of one consumer. */
export interface InboundStats {
  consumerId: string;
  producerId: string;
  peerId: string;
  kind: string;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  /** Sum of squared audio levels (browsers that decode the stream report it). */
  totalAudioEnergy?: number;
  jitter?: number;
}

/** Events of {@link RoomClient}. */
export type RoomClientEvents = {
  /** The lifecycle changed. */
  state: [RoomState];
  /** Joined (also after a reconnect that was not a resume). */
  joined: [WsResponseData<'join'>];
  participantJoined: [Participant];
  participantLeft: [Participant, LeaveReason];
  /** Speaking state, producers or name of a participant changed. */
  participantUpdated: [Participant];
  /** A remote track can be played. */
  trackAdded: [RemoteTrack];
  /** A remote track ended (its producer or participant is gone). */
  trackRemoved: [RemoteTrack];
  /** A remote producer was paused or resumed at its source. */
  trackPaused: [RemoteTrack];
  activeSpeaker: [WsNotificationData<'activeSpeaker'>];
  transcriptPartial: [TranscriptEvent];
  transcriptFinal: [TranscriptEvent];
  ttsStarted: [TtsEvent<'ttsStarted'>];
  ttsEnded: [TtsEvent<'ttsEnded'>];
  /** A latency was measured (join, end of own speech → final, say → first audio). */
  latency: [LatencySample];
  /** The microphone was muted/unmuted (`byAdmin`: by an admin, not by this client). */
  micMuted: [{ muted: boolean; byAdmin: boolean }];
  reconnecting: [{ attempt: number; delayMs: number }];
  /** Back after a drop: `resumed` kept the peer (ICE restarted); otherwise the peer was rebuilt. */
  reconnected: [{ resumed: boolean }];
  /** Removed by an admin or the room was deleted; the client is closed. */
  removed: [{ reason: LeaveReason }];
  /** A background step failed (consume, ICE restart, republish); the client carries on. */
  error: [Error];
  /** Closed for good. */
  closed: [{ reason: string }];
};

interface ConsumerEntry {
  consumer: ms.Consumer;
  peerId: string;
  paused: boolean;
}

interface PendingSay {
  requestId?: string;
  startedAt: number;
  baselinePackets: number;
  done: boolean;
}

/** How long a `say` may wait for its first audio packet. */
const FIRST_AUDIO_WINDOW_MS = 30_000;

function defaultNow(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/**
 * One participant's view of a Parley room, over {@link SignalingClient} and mediasoup-client:
 * join with a token (device load, recv transport), publish the microphone, consume every
 * producer (the agent's speech included) and resume it, transcripts and speech as typed events,
 * `say`, mute, leave, and reconnect — resuming the session and restarting ICE, or rebuilding the
 * peer when the server no longer has it.
 *
 * ```ts
 * const room = new RoomClient({ url: tok.wsUrl, token: tok.token });
 * room.on('trackAdded', (t) => (audioEl.srcObject = new MediaStream([t.track])));
 * room.on('transcriptFinal', (t) => console.log(t.identity, t.text));
 * await room.join();
 * await room.publish((await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks()[0]);
 * await room.say('Hello room');
 * ```
 */
export class RoomClient extends Emitter<RoomClientEvents> {
  /** The underlying protocol client (raw requests, notifications). */
  readonly signaling: SignalingClient;
  private readonly device: Device;
  private readonly now: () => number;
  private stateNow: RoomState = 'new';
  private joinInfo?: WsResponseData<'join'>;
  private readonly people = new Map<string, Participant>();
  private readonly consumers = new Map<string, ConsumerEntry>();
  private readonly subscribing = new Map<string, Promise<RemoteTrack | undefined>>();
  private sendTransport?: ms.Transport;
  private recvTransport?: ms.Transport;
  private recvReady?: Promise<ms.Transport | undefined>;
  /** Transports the join answered (`createTransports`), used instead of `createTransport` once. */
  private readonly prepared = new Map<'send' | 'recv', WsResponseData<'createTransport'>>();
  private micProducer?: ms.Producer;
  private micTrack?: MediaStreamTrack;
  private micMutedNow = false;
  private adminMuted = false;
  private readonly speechEnds: SpeechEndMatcher;
  private readonly pendingSays: PendingSay[] = [];
  private readonly lastLatency = new Map<LatencyKind, LatencySample>();
  private sayPoll?: ReturnType<typeof setInterval>;
  private generation = 0;
  private leaving = false;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(private readonly opts: RoomClientOptions) {
    super(opts.onListenerError);
    this.now = opts.now ?? defaultNow;
    this.speechEnds = new SpeechEndMatcher(opts.speechEnd);
    this.device = new Device({
      ...(opts.handlerFactory ? { handlerFactory: opts.handlerFactory } : {}),
      ...(opts.handlerName ? { handlerName: opts.handlerName } : {}),
    });
    this.signaling = new SignalingClient({
      url: opts.url,
      token: opts.token,
      ...(opts.WebSocket ? { WebSocket: opts.WebSocket } : {}),
      ...opts.signaling,
      ...(opts.onListenerError ? { onListenerError: opts.onListenerError } : {}),
    });
    this.wireSignaling();
  }

  /** Lifecycle state. */
  get state(): RoomState {
    return this.stateNow;
  }

  /** The last `join` response (after {@link join}). */
  get info(): WsResponseData<'join'> | undefined {
    return this.joinInfo;
  }

  /** This client's peer id (after {@link join}). */
  get peerId(): string | undefined {
    return this.joinInfo?.peerId;
  }

  /** Every participant, this client first. */
  get participants(): Participant[] {
    return [...this.people.values()].sort((a, b) => Number(b.isLocal) - Number(a.isLocal));
  }

  /** Every consumed remote track. */
  get tracks(): RemoteTrack[] {
    return [...this.consumers.values()].map((e) => this.remote(e));
  }

  /** The microphone producer id while publishing. */
  get micProducerId(): string | undefined {
    return this.micProducer?.id;
  }

  /** Whether the microphone is muted (by this client or an admin). */
  get micMuted(): boolean {
    return this.micMutedNow || this.adminMuted;
  }

  /** The last sample of each latency. */
  get latencies(): Partial<Record<LatencyKind, LatencySample>> {
    return Object.fromEntries(this.lastLatency) as Partial<Record<LatencyKind, LatencySample>>;
  }

  /** The mediasoup-client handler in use (`Chrome111`, `FakeHandler`, …). */
  get handlerName(): string {
    return this.device.handlerName;
  }

  /**
   * Connects, joins, loads the device, creates the receive transport and consumes every producer
   * already in the room. Resolves with the `join` response; the `join` latency is measured.
   */
  async join(): Promise<WsResponseData<'join'>> {
    if (this.stateNow !== 'new') throw new Error(`join() in state ${this.stateNow}`);
    const t0 = this.now();
    this.setState('joining');
    try {
      await this.signaling.connect();
      // The transports come with the join (a round trip fewer each); older servers ignore it.
      const r = await this.signaling.join({
        ...(this.opts.displayName ? { displayName: this.opts.displayName } : {}),
        createTransports: true,
      });
      for (const t of r.createdTransports ?? []) this.prepared.set(t.direction, t);
      await this.device.load({
        routerRtpCapabilities: r.routerRtpCapabilities as unknown as ms.RtpCapabilities,
      });
      await this.adopt(r);
      this.record('join', this.now() - t0);
      void this.syncClock();
      return r;
    } catch (err) {
      this.shutdown(`join failed: ${(err as Error).message}`);
      throw err;
    }
  }

  /**
   * Publishes a microphone track (replacing the track of an existing microphone producer).
   * Resolves with the producer id.
   */
  async publish(
    track: MediaStreamTrack,
    opts: { paused?: boolean; codecOptions?: ms.ProducerCodecOptions } = {},
  ): Promise<string> {
    this.assertJoined();
    if (!this.joinInfo?.grants.publish) {
      throw new ProtocolError({ code: 'FORBIDDEN', message: 'the token has no publish grant' });
    }
    this.micTrack = track;
    if (this.micProducer && !this.micProducer.closed) {
      await this.micProducer.replaceTrack({ track });
      return this.micProducer.id;
    }
    const transport = await this.ensureSendTransport();
    const paused = opts.paused ?? this.micMutedNow;
    const producer = await transport.produce({
      track,
      stopTracks: false,
      zeroRtpOnPause: true,
      disableTrackOnPause: true,
      codecOptions: { opusStereo: false, opusDtx: false, opusFec: true, ...opts.codecOptions },
      appData: { paused },
    });
    if (paused) producer.pause();
    // The server's timeline of this stream (transcript offsets) starts about now.
    this.speechEnds.setOrigin(this.now());
    this.micProducer = producer;
    this.micMutedNow = paused;
    producer.observer.on('close', () => {
      if (this.micProducer === producer) this.micProducer = undefined;
    });
    this.localParticipant((p) => (p.producerIds = [producer.id]));
    return producer.id;
  }

  /** Stops publishing the microphone (the track is left running; stop it yourself). */
  async unpublish(): Promise<void> {
    const p = this.micProducer;
    this.micTrack = undefined;
    if (!p) return;
    this.micProducer = undefined;
    p.close();
    this.localParticipant((x) => (x.producerIds = []));
    await this.signaling.request('closeProducer', { producerId: p.id }).catch(() => undefined);
  }

  /** Mutes or unmutes the microphone (pauses the producer here and at the SFU). */
  async setMicMuted(muted: boolean): Promise<void> {
    this.assertJoined();
    const p = this.micProducer;
    if (p) {
      if (muted) {
        p.pause();
        await this.signaling.request('pauseProducer', { producerId: p.id });
      } else {
        await this.signaling.request('resumeProducer', { producerId: p.id });
        p.resume();
      }
    }
    this.micMutedNow = muted;
    this.emit('micMuted', { muted, byAdmin: false });
  }

  /**
   * Speaks text into the room through the agent participant. The `sayToFirstAudio` latency runs
   * from this call to the first audio packet of the agent's producer at this client.
   */
  async say(
    text: string,
    opts: Omit<WsRequestData<'say'>, 'text'> = {},
  ): Promise<WsResponseData<'say'>> {
    this.assertJoined();
    const baselinePackets = await this.agentPackets();
    const pending: PendingSay = { startedAt: this.now(), baselinePackets, done: false };
    this.pendingSays.push(pending);
    try {
      const r = await this.signaling.request('say', { text, ...opts });
      pending.requestId = r.requestId;
      // Queued behind other speech, its first packet cannot be told from theirs.
      if (r.queued > 0) pending.done = true;
      if (this.opts.autoSubscribe !== false) void this.subscribe(r.producerId, AGENT_PEER_ID);
      this.startSayPoll();
      return r;
    } catch (err) {
      pending.done = true;
      this.prunePendingSays();
      throw err;
    }
  }

  /** Stops one of your speech requests (or, as an admin, all of the room's). */
  stopSpeech(requestId?: string): Promise<WsResponseData<'stopSpeech'>> {
    this.assertJoined();
    return this.signaling.request('stopSpeech', requestId ? { requestId } : {});
  }

  /**
   * Tells the client about a burst of this participant's own speech (client clock); a later
   * final transcript of its own speech is matched to the utterance it closes and yields an
   * `eosToFinal` latency. The browser page feeds it from a level meter on the microphone
   * ({@link SpeechMeter}); a Node client from what it sent.
   */
  markSpeech(burst: SpeechBurst): void {
    this.speechEnds.add(burst);
  }

  /** Consumes one producer (done automatically unless `autoSubscribe` is false). */
  subscribe(producerId: string, peerId?: string): Promise<RemoteTrack | undefined> {
    const have = this.consumers.get(producerId);
    if (have) return Promise.resolve(this.remote(have));
    const running = this.subscribing.get(producerId);
    if (running) return running;
    const gen = this.generation;
    const p = this.doSubscribe(producerId, peerId, gen)
      .catch((err: unknown) => {
        if (gen === this.generation && this.stateNow !== 'closed') {
          // A producer that closed meanwhile is not an error worth reporting.
          if ((err as ProtocolError).code !== 'NOT_FOUND') this.emit('error', err as Error);
        }
        return undefined;
      })
      .finally(() => this.subscribing.delete(producerId));
    this.subscribing.set(producerId, p);
    return p;
  }

  /** Inbound RTP statistics of every consumer (bytes > 0 means media arrives). */
  async getInboundStats(): Promise<InboundStats[]> {
    const out: InboundStats[] = [];
    for (const e of this.consumers.values()) {
      const s = await this.inbound(e.consumer);
      out.push({
        consumerId: e.consumer.id,
        producerId: e.consumer.producerId,
        peerId: e.peerId,
        kind: e.consumer.kind,
        packetsReceived: s.packetsReceived,
        bytesReceived: s.bytesReceived,
        packetsLost: s.packetsLost,
        ...(s.totalAudioEnergy !== undefined ? { totalAudioEnergy: s.totalAudioEnergy } : {}),
        ...(s.jitter !== undefined ? { jitter: s.jitter } : {}),
      });
    }
    return out;
  }

  /** Leaves the room (the server closes the socket) and releases every transport. */
  async leave(): Promise<void> {
    if (this.stateNow === 'closed') return;
    this.leaving = true;
    try {
      if (this.signaling.connected) await this.signaling.leave();
    } catch {
      /* leaving anyway */
    } finally {
      this.shutdown('left');
    }
  }

  /** Closes without leaving: the session stays resumable on the server for its grace period. */
  close(): void {
    if (this.stateNow === 'closed') return;
    this.signaling.close();
    this.shutdown('closed');
  }

  // -------------------------------------------------------------------------------------------

  private wireSignaling(): void {
    const s = this.signaling;
    this.unsubscribers.push(
      s.on('peerJoined', ({ peer }) => this.upsertPeer(peer, true)),
      s.on('peerLeft', ({ peerId, reason }) => this.removePeer(peerId, reason)),
      s.on('newProducer', (p) => this.onNewProducer(p)),
      s.on('producerClosed', ({ producerId, peerId }) => this.dropProducer(producerId, peerId)),
      s.on('producerPaused', ({ producerId, paused }) => {
        const e = this.consumers.get(producerId);
        if (!e) return;
        e.paused = paused;
        this.emit('trackPaused', this.remote(e));
      }),
      s.on('activeSpeaker', (a) => this.onActiveSpeaker(a)),
      s.on('muted', ({ muted, producers }) => {
        const p = this.micProducer;
        if (!p || !producers.includes(p.id)) return;
        this.adminMuted = muted;
        if (muted) p.pause();
        else if (!this.micMutedNow) p.resume();
        this.emit('micMuted', { muted, byAdmin: true });
      }),
      s.on('transcriptPartial', (t) => this.onTranscript(t, false)),
      s.on('transcriptFinal', (t) => this.onTranscript(t, true)),
      s.on('ttsStarted', (t) => {
        this.agentSpeaking(true, t.producerId);
        this.emit('ttsStarted', { ...t, receivedAt: this.now() });
      }),
      s.on('ttsEnded', (t) => {
        // A request that ended without playing never gets a first packet; one that played is
        // left to the poller, which may not have seen its packets yet.
        for (const p of this.pendingSays) {
          if (p.requestId === t.requestId && t.reason !== undefined && t.reason !== 'done') {
            p.done = true;
          }
        }
        this.prunePendingSays();
        this.agentSpeaking(false);
        this.emit('ttsEnded', { ...t, receivedAt: this.now() });
      }),
      s.on('reconnectRequired', (r) => {
        if (r.transportId) void this.restartIce(r.transportId);
      }),
      s.on('removed', ({ reason }) => {
        this.emit('removed', { reason });
        this.shutdown(`removed (${reason})`);
      }),
      s.on('reconnecting', (r) => {
        if (this.stateNow === 'closed') return;
        this.setState('reconnecting');
        this.emit('reconnecting', r);
      }),
      s.on('reconnected', (r) => void this.onReconnected(r)),
      s.on('reconnectFailed', (err) => this.shutdown(`reconnect failed: ${err.message}`)),
      s.on('close', (c) => {
        if (this.leaving) return;
        if (!c.willReconnect && this.stateNow !== 'new' && this.stateNow !== 'joining') {
          this.shutdown(`socket closed (${c.code} ${c.reason})`);
        }
      }),
    );
  }

  /** Takes a join response as the room's state: participants, recv transport, producers. */
  private async adopt(r: WsResponseData<'join'>): Promise<void> {
    this.joinInfo = r;
    this.people.clear();
    this.people.set(r.peerId, {
      peerId: r.peerId,
      identity: r.identity,
      ...(this.opts.displayName ? { displayName: this.opts.displayName } : {}),
      role: r.role,
      isLocal: true,
      isAgent: false,
      speaking: false,
      producerIds: this.micProducer ? [this.micProducer.id] : [],
    });
    for (const peer of r.peers) this.upsertPeer(peer, false);
    for (const p of r.producers) this.noteProducer(p);
    this.recvReady = r.grants.subscribe ? this.createRecvTransport() : Promise.resolve(undefined);
    await this.recvReady;
    this.setState('joined');
    this.emit('joined', r);
    if (this.opts.autoSubscribe !== false) {
      await Promise.all(r.producers.map((p) => this.subscribe(p.producerId, p.peerId)));
    }
  }

  /**
   * What `device.createSendTransport/createRecvTransport` takes for a new transport: the one the
   * join answered (once), else a `createTransport` request.
   */
  private async transportOptions(direction: 'send' | 'recv'): Promise<ms.TransportOptions> {
    const t =
      this.prepared.get(direction) ??
      (await this.signaling.request('createTransport', { direction }));
    this.prepared.delete(direction);
    return {
      id: t.transportId,
      iceParameters: t.iceParameters as unknown as ms.IceParameters,
      iceCandidates: t.iceCandidates as unknown as ms.IceCandidate[],
      dtlsParameters: t.dtlsParameters as unknown as ms.DtlsParameters,
      ...(this.opts.iceServers ? { iceServers: this.opts.iceServers } : {}),
    };
  }

  private async createRecvTransport(): Promise<ms.Transport> {
    const transport = this.device.createRecvTransport(await this.transportOptions('recv'));
    this.wireTransport(transport);
    this.recvTransport = transport;
    return transport;
  }

  private async ensureSendTransport(): Promise<ms.Transport> {
    if (this.sendTransport && !this.sendTransport.closed) return this.sendTransport;
    const transport = this.device.createSendTransport(await this.transportOptions('send'));
    this.wireTransport(transport);
    transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      this.signaling
        .request('produce', {
          transportId: transport.id,
          kind,
          rtpParameters: rtpParameters as unknown as WsRequestData<'produce'>['rtpParameters'],
          ...(appData['paused'] === true ? { paused: true } : {}),
        })
        .then((r) => callback({ id: r.producerId }), errback);
    });
    this.sendTransport = transport;
    return transport;
  }

  private wireTransport(transport: ms.Transport): void {
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.signaling
        .request('connectTransport', {
          transportId: transport.id,
          dtlsParameters: dtlsParameters as WsRequestData<'connectTransport'>['dtlsParameters'],
        })
        .then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (state) => {
      // The SFU is ICE-lite: a failed transport needs new ICE credentials from the server.
      if (state === 'failed' && this.stateNow === 'joined') void this.restartIce(transport.id);
    });
  }

  private async restartIce(transportId: string): Promise<void> {
    const transport = [this.sendTransport, this.recvTransport].find((t) => t?.id === transportId);
    if (!transport || transport.closed) return;
    try {
      const { iceParameters } = await this.signaling.request('restartIce', { transportId });
      await transport.restartIce({ iceParameters: iceParameters as unknown as ms.IceParameters });
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private async doSubscribe(
    producerId: string,
    peerId: string | undefined,
    gen: number,
  ): Promise<RemoteTrack | undefined> {
    const transport = await this.recvReady;
    if (!transport || gen !== this.generation) return undefined;
    const c = await this.signaling.request('consume', {
      transportId: transport.id,
      producerId,
      rtpCapabilities: this.device
        .rtpCapabilities as unknown as WsRequestData<'consume'>['rtpCapabilities'],
    });
    if (gen !== this.generation || transport.closed) return undefined;
    const consumer = await transport.consume({
      id: c.consumerId,
      producerId: c.producerId,
      kind: c.kind,
      rtpParameters: c.rtpParameters as unknown as ms.RtpParameters,
    });
    const entry: ConsumerEntry = {
      consumer,
      peerId: c.peerId || peerId || '',
      paused: c.producerPaused,
    };
    this.consumers.set(producerId, entry);
    this.noteProducer({
      producerId,
      peerId: entry.peerId,
      kind: c.kind,
      paused: c.producerPaused,
    });
    consumer.observer.on('close', () => {
      if (this.consumers.get(producerId)?.consumer === consumer) this.consumers.delete(producerId);
    });
    // The server created the consumer paused so no packet is lost before the track exists.
    await this.signaling.request('resumeConsumer', { consumerId: consumer.id });
    const rt = this.remote(entry);
    this.emit('trackAdded', rt);
    return rt;
  }

  private onNewProducer(p: ProducerInfo): void {
    if (p.peerId === this.joinInfo?.peerId) return;
    this.noteProducer(p);
    if (this.opts.autoSubscribe !== false && this.stateNow === 'joined') {
      void this.subscribe(p.producerId, p.peerId);
    }
  }

  private noteProducer(p: ProducerInfo): void {
    let who = this.people.get(p.peerId);
    if (!who && p.peerId === AGENT_PEER_ID) {
      who = this.agentParticipant();
    }
    if (who && !who.producerIds.includes(p.producerId)) {
      who.producerIds.push(p.producerId);
      this.emit('participantUpdated', who);
    }
  }

  private dropProducer(producerId: string, peerId: string): void {
    const e = this.consumers.get(producerId);
    if (e) {
      this.consumers.delete(producerId);
      e.consumer.close();
      this.emit('trackRemoved', this.remote(e));
    }
    const who = this.people.get(peerId);
    if (who) {
      who.producerIds = who.producerIds.filter((id) => id !== producerId);
      if (who.isAgent && who.producerIds.length === 0) {
        this.people.delete(peerId);
        this.emit('participantLeft', who, 'left');
      } else this.emit('participantUpdated', who);
    }
  }

  private upsertPeer(peer: PeerInfo, announce: boolean): void {
    if (peer.peerId === this.joinInfo?.peerId) return;
    const had = this.people.get(peer.peerId);
    const next: Participant = {
      peerId: peer.peerId,
      identity: peer.identity,
      ...(peer.displayName ? { displayName: peer.displayName } : {}),
      role: peer.role,
      isLocal: false,
      isAgent: false,
      speaking: had?.speaking ?? false,
      producerIds: had?.producerIds ?? [],
    };
    this.people.set(peer.peerId, next);
    if (!announce) return;
    if (had) this.emit('participantUpdated', next);
    else this.emit('participantJoined', next);
  }

  private removePeer(peerId: string, reason: LeaveReason): void {
    for (const [producerId, e] of [...this.consumers]) {
      if (e.peerId !== peerId) continue;
      this.consumers.delete(producerId);
      e.consumer.close();
      this.emit('trackRemoved', this.remote(e));
    }
    const who = this.people.get(peerId);
    if (!who) return;
    this.people.delete(peerId);
    this.emit('participantLeft', who, reason);
  }

  private agentParticipant(): Participant {
    let a = this.people.get(AGENT_PEER_ID);
    if (!a) {
      a = {
        peerId: AGENT_PEER_ID,
        identity: AGENT_PEER_ID,
        displayName: 'Agent',
        role: 'agent',
        isLocal: false,
        isAgent: true,
        speaking: false,
        producerIds: [],
      };
      this.people.set(AGENT_PEER_ID, a);
      this.emit('participantJoined', a);
    }
    return a;
  }

  private agentSpeaking(speaking: boolean, producerId?: string): void {
    const a = this.agentParticipant();
    if (producerId && !a.producerIds.includes(producerId)) a.producerIds.push(producerId);
    if (a.speaking === speaking) return;
    a.speaking = speaking;
    this.emit('participantUpdated', a);
  }

  private onActiveSpeaker(a: WsNotificationData<'activeSpeaker'>): void {
    const levels = new Map(a.volumes.map((v) => [v.peerId, v.dBov]));
    if (a.peerId && !levels.has(a.peerId)) levels.set(a.peerId, Number.NaN);
    for (const p of this.people.values()) {
      if (p.isAgent && !levels.has(p.peerId)) continue; // speech events drive the agent
      const speaking = levels.has(p.peerId);
      const dBov = levels.get(p.peerId);
      if (p.speaking === speaking && p.dBov === dBov) continue;
      p.speaking = speaking;
      if (dBov !== undefined && !Number.isNaN(dBov)) p.dBov = dBov;
      else delete p.dBov;
      this.emit('participantUpdated', p);
    }
    this.emit('activeSpeaker', a);
  }

  /**
   * Server clock minus local wall clock (ms), from one `ping` (half the round trip assumed each
   * way); lets a final's `speechEndedAt` (server clock) be compared with local time.
   */
  private clockOffsetMs?: number;

  private async syncClock(): Promise<void> {
    try {
      const t0 = Date.now();
      const r = await this.signaling.request('ping', { t: t0 });
      this.clockOffsetMs = r.serverTime - (t0 + Date.now()) / 2;
    } catch {
      // no offset: latencies fall back to matching local speech bursts
    }
  }

  private onTranscript(t: WsNotificationData<'transcriptFinal'>, final: boolean): void {
    const receivedAt = this.now();
    const isLocal = t.peerId === this.joinInfo?.peerId;
    const ev: TranscriptEvent = { ...t, final, receivedAt, isLocal };
    if (final && isLocal && t.speechEndedAt !== undefined && this.clockOffsetMs !== undefined) {
      // The server says when the utterance's speech ended: exact, no burst matching needed.
      const localEnd = t.speechEndedAt - this.clockOffsetMs;
      this.record('eosToFinal', Math.max(0, Date.now() - localEnd), t.utteranceId);
    } else if (final && isLocal) {
      const end = this.speechEnds.match({
        receivedAt,
        startMs: t.startMs,
        ...(t.endMs !== undefined ? { endMs: t.endMs } : {}),
      });
      if (end !== undefined) this.record('eosToFinal', receivedAt - end, t.utteranceId);
    }
    this.emit(final ? 'transcriptFinal' : 'transcriptPartial', ev);
  }

  private async onReconnected(r: WsResponseData<'join'>): Promise<void> {
    if (this.stateNow === 'closed') return;
    try {
      if (r.resumed) {
        this.joinInfo = r;
        for (const t of r.transports) {
          const transport = [this.sendTransport, this.recvTransport].find(
            (x) => x?.id === t.transportId,
          );
          await transport?.restartIce({
            iceParameters: t.iceParameters as unknown as ms.IceParameters,
          });
          // One the join answered but not used yet: build it with the new ICE parameters.
          const unused = this.prepared.get(t.direction);
          if (unused?.transportId === t.transportId) {
            this.prepared.set(t.direction, { ...unused, iceParameters: t.iceParameters });
          }
        }
        // Reconcile the room with what the server says now.
        const live = new Set(r.producers.map((p) => p.producerId));
        for (const [producerId, e] of [...this.consumers]) {
          if (!live.has(producerId)) this.dropProducer(producerId, e.peerId);
        }
        const peers = new Set(r.peers.map((p) => p.peerId));
        for (const p of [...this.people.values()]) {
          if (!p.isLocal && !p.isAgent && !peers.has(p.peerId)) this.removePeer(p.peerId, 'left');
        }
        for (const peer of r.peers) this.upsertPeer(peer, true);
        const mine = this.micProducer;
        if (mine && !r.ownProducers.some((p) => p.producerId === mine.id)) {
          mine.close();
          this.micProducer = undefined;
          if (this.micTrack) await this.publish(this.micTrack);
        }
        this.setState('joined');
        if (this.opts.autoSubscribe !== false) {
          await Promise.all(r.producers.map((p) => this.subscribe(p.producerId, p.peerId)));
        }
      } else {
        // The server forgot us: a new peer. Rebuild transports, consumers and the microphone.
        this.teardownMedia();
        await this.adopt(r);
        if (this.micTrack) await this.publish(this.micTrack, { paused: this.micMutedNow });
      }
      this.emit('reconnected', { resumed: r.resumed });
    } catch (err) {
      this.emit('error', err as Error);
    }
  }

  private teardownMedia(): void {
    this.generation++;
    this.prepared.clear();
    for (const e of this.consumers.values()) {
      e.consumer.close();
      this.emit('trackRemoved', this.remote(e));
    }
    this.consumers.clear();
    this.micProducer?.close();
    this.micProducer = undefined;
    this.sendTransport?.close();
    this.recvTransport?.close();
    this.sendTransport = undefined;
    this.recvTransport = undefined;
  }

  private shutdown(reason: string): void {
    if (this.stateNow === 'closed') return;
    clearInterval(this.sayPoll);
    this.teardownMedia();
    for (const off of this.unsubscribers.splice(0)) off();
    if (this.signaling.connected) this.signaling.close();
    this.setState('closed');
    this.emit('closed', { reason });
  }

  private localParticipant(fn: (p: Participant) => void): void {
    const me = this.joinInfo && this.people.get(this.joinInfo.peerId);
    if (!me) return;
    fn(me);
    this.emit('participantUpdated', me);
  }

  private remote(e: ConsumerEntry): RemoteTrack {
    return {
      consumerId: e.consumer.id,
      producerId: e.consumer.producerId,
      peerId: e.peerId,
      kind: e.consumer.kind,
      track: e.consumer.track,
      paused: e.paused,
    };
  }

  private setState(s: RoomState): void {
    if (this.stateNow === s) return;
    this.stateNow = s;
    this.emit('state', s);
  }

  private assertJoined(): void {
    if (this.stateNow !== 'joined' && this.stateNow !== 'reconnecting') {
      throw new ProtocolError({ code: 'NOT_JOINED', message: `not joined (${this.stateNow})` });
    }
  }

  private record(kind: LatencyKind, ms: number, ref?: string): void {
    const sample: LatencySample = {
      kind,
      ms: Math.round(ms * 10) / 10,
      at: this.now(),
      ...(ref ? { ref } : {}),
    };
    this.lastLatency.set(kind, sample);
    this.emit('latency', sample);
  }

  private async inbound(consumer: ms.Consumer) {
    const out = { packetsReceived: 0, bytesReceived: 0, packetsLost: 0 } as {
      packetsReceived: number;
      bytesReceived: number;
      packetsLost: number;
      totalAudioEnergy?: number;
      jitter?: number;
    };
    let report: RTCStatsReport;
    try {
      report = await consumer.getStats();
    } catch {
      return out;
    }
    report.forEach((s: Record<string, unknown>) => {
      if (s['type'] !== 'inbound-rtp') return;
      out.packetsReceived += Number(s['packetsReceived'] ?? 0);
      out.bytesReceived += Number(s['bytesReceived'] ?? 0);
      out.packetsLost += Number(s['packetsLost'] ?? 0);
      if (typeof s['totalAudioEnergy'] === 'number') {
        out.totalAudioEnergy = (out.totalAudioEnergy ?? 0) + s['totalAudioEnergy'];
      }
      if (typeof s['jitter'] === 'number') out.jitter = s['jitter'];
    });
    return out;
  }

  private agentConsumers(): ms.Consumer[] {
    return [...this.consumers.values()]
      .filter((e) => e.peerId === AGENT_PEER_ID)
      .map((e) => e.consumer);
  }

  private async agentPackets(): Promise<number> {
    let n = 0;
    for (const c of this.agentConsumers()) n += (await this.inbound(c)).packetsReceived;
    return n;
  }

  /** Polls the agent consumers' packet counters until every pending `say` heard its first packet. */
  private startSayPoll(): void {
    if (this.sayPoll) return;
    let busy = false;
    this.sayPoll = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.agentPackets()
        .then((packets) => {
          const now = this.now();
          for (const p of this.pendingSays) {
            if (p.done || p.requestId === undefined) continue;
            if (packets > p.baselinePackets) {
              p.done = true;
              this.record('sayToFirstAudio', now - p.startedAt, p.requestId);
            } else if (now - p.startedAt > FIRST_AUDIO_WINDOW_MS) p.done = true;
          }
          this.prunePendingSays();
          if (this.pendingSays.length === 0) {
            clearInterval(this.sayPoll);
            this.sayPoll = undefined;
          }
        })
        .finally(() => (busy = false));
    }, this.opts.firstAudioPollMs ?? 10);
  }

  private prunePendingSays(): void {
    for (let i = this.pendingSays.length - 1; i >= 0; i--) {
      if (this.pendingSays[i]?.done) this.pendingSays.splice(i, 1);
    }
  }
}
