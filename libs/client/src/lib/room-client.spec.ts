import type { WsMethod } from '@parley/contracts';
import { FakeMediaStreamTrack } from 'fake-mediastreamtrack';
import { FakeHandler, testFakeParameters as fake } from 'mediasoup-client';
import { type RoomClientEvents, RoomClient } from './room-client';
import type { WebSocketLike } from './signaling-client';

type Frame = { id: number; method: WsMethod; data: Record<string, unknown> };
type Handler = (data: Record<string, unknown>, socket: ServerSocket) => unknown;

/** Plays the signaling server: answers every request (asynchronously, like a network). */
class FakeServer {
  sockets: ServerSocket[] = [];
  requests: Frame[] = [];
  refuseConnect = false;
  private nextProducer = 1;
  private nextSession = 1;
  readonly producers: Array<{
    producerId: string;
    peerId: string;
    kind: 'audio';
    paused: boolean;
  }> = [];
  readonly peers: Array<{ peerId: string; identity: string; role: 'member' }> = [];
  resumeAnswer?: (sessionId: string) => Record<string, unknown>;
  grants = { join: true, publish: true, subscribe: true, admin: false };
  overrides: Partial<Record<WsMethod, Handler>> = {};

  joinResult(extra: Record<string, unknown> = {}) {
    return {
      sessionId: `sess-${this.nextSession++}`,
      peerId: 'me',
      room: 'r',
      identity: 'ada',
      role: 'member',
      grants: this.grants,
      resumed: false,
      routerRtpCapabilities: fake.generateRouterRtpCapabilities(),
      peers: this.peers,
      producers: this.producers,
      transports: [],
      ownProducers: [],
      roomOptions: { transcription: true, language: 'auto' },
      reconnectGraceS: 30,
      tokenExpiresAt: 0,
      ...extra,
    };
  }

  private readonly defaults: Record<WsMethod, Handler> = {
    join: (d) =>
      typeof d['sessionId'] === 'string' && this.resumeAnswer
        ? this.resumeAnswer(d['sessionId'])
        : this.joinResult(),
    createTransport: (d) => {
      const t = fake.generateTransportRemoteParameters();
      return {
        transportId: t.id,
        direction: d['direction'],
        iceParameters: t.iceParameters,
        iceCandidates: t.iceCandidates,
        dtlsParameters: t.dtlsParameters,
      };
    },
    connectTransport: () => ({}),
    produce: () => ({ producerId: `mine-${this.nextProducer++}` }),
    consume: (d) => {
      const p = this.producers.find((x) => x.producerId === d['producerId']);
      if (!p) throw { code: 'NOT_FOUND', message: 'no such producer' };
      const c = fake.generateConsumerRemoteParameters({ codecMimeType: 'audio/opus' });
      return {
        consumerId: `c-${p.producerId}`,
        producerId: p.producerId,
        peerId: p.peerId,
        kind: 'audio',
        rtpParameters: c.rtpParameters,
        type: 'simple',
        producerPaused: p.paused,
      };
    },
    resumeConsumer: () => ({}),
    pauseProducer: () => ({}),
    resumeProducer: () => ({}),
    closeProducer: () => ({}),
    restartIce: () => ({ iceParameters: fake.generateTransportRemoteParameters().iceParameters }),
    leave: () => ({}),
    ping: () => ({ serverTime: 0 }),
    say: () => {
      if (!this.producers.some((p) => p.peerId === 'agent')) this.addProducer('agent', 'agent-p');
      return { requestId: 'say-1', producerId: 'agent-p', queued: 0 };
    },
    stopSpeech: () => ({ stopped: 1 }),
  };

  addProducer(peerId: string, producerId: string) {
    const p = { producerId, peerId, kind: 'audio' as const, paused: false };
    this.producers.push(p);
    return p;
  }

  handle(socket: ServerSocket, f: Frame): void {
    this.requests.push(f);
    setTimeout(() => {
      if (socket.readyState !== 1) return;
      try {
        const data = (this.overrides[f.method] ?? this.defaults[f.method])(f.data, socket);
        socket.deliver({ type: 'response', id: f.id, ok: true, data });
        if (f.method === 'leave') socket.serverClose(1000, 'left');
      } catch (err) {
        socket.deliver({ type: 'response', id: f.id, ok: false, error: err });
      }
    }, 1);
  }

  of(method: WsMethod): Array<Record<string, unknown>> {
    return this.requests.filter((r) => r.method === method).map((r) => r.data);
  }

  get socket(): ServerSocket {
    return this.sockets.at(-1) as ServerSocket;
  }

  notify(method: string, data: unknown): void {
    this.socket.deliver({ type: 'notification', method, data });
  }
}

/** A transport as `join {createTransports}` answers it (ids `send-t` / `recv-t`). */
function made(direction: 'send' | 'recv') {
  const t = fake.generateTransportRemoteParameters();
  return {
    transportId: `${direction}-t`,
    direction,
    iceParameters: t.iceParameters,
    iceCandidates: t.iceCandidates,
    dtlsParameters: t.dtlsParameters,
  };
}

let server: FakeServer;

class ServerSocket implements WebSocketLike {
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;

  constructor(readonly url: string) {
    server.sockets.push(this);
    setTimeout(() => {
      if (server.refuseConnect) return this.serverClose(1006, 'refused');
      this.readyState = 1;
      this.onopen?.({});
    }, 1);
  }

  send(data: string): void {
    server.handle(this, JSON.parse(data) as Frame);
  }

  close(code = 1000, reason = ''): void {
    this.serverClose(code, reason);
  }

  deliver(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  serverClose(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

/** FakeHandler whose receivers report inbound RTP counters the test controls. */
class StatsHandler extends FakeHandler {
  static packets = 0;
  static restarts = 0;
  override async getReceiverStats(): Promise<RTCStatsReport> {
    const n = StatsHandler.packets;
    return new Map([
      ['in', { type: 'inbound-rtp', packetsReceived: n, bytesReceived: n * 80, packetsLost: 0 }],
    ]) as unknown as RTCStatsReport;
  }
  override async restartIce(iceParameters: Parameters<FakeHandler['restartIce']>[0]) {
    StatsHandler.restarts++;
    return super.restartIce(iceParameters);
  }
}

let clock = 1000;

function client(opts: Partial<ConstructorParameters<typeof RoomClient>[0]> = {}) {
  const room = new RoomClient({
    url: 'ws://x/v1/ws',
    token: 'T',
    WebSocket: ServerSocket,
    handlerFactory: () => new StatsHandler(fake),
    signaling: { reconnectDelayMs: 1 },
    now: () => clock,
    firstAudioPollMs: 2,
    ...opts,
  });
  const events: Array<[keyof RoomClientEvents, unknown]> = [];
  for (const e of [
    'participantJoined',
    'participantLeft',
    'participantUpdated',
    'trackAdded',
    'trackRemoved',
    'latency',
    'transcriptPartial',
    'transcriptFinal',
    'ttsStarted',
    'ttsEnded',
    'micMuted',
    'reconnected',
    'error',
    'closed',
  ] as const) {
    room.on(e, (...args: unknown[]) => events.push([e, args[0]]));
  }
  const seen = <K extends keyof RoomClientEvents>(e: K) =>
    events.filter(([n]) => n === e).map(([, d]) => d as RoomClientEvents[K][0]);
  return { room, seen };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
};

const mic = () => new FakeMediaStreamTrack({ kind: 'audio' }) as unknown as MediaStreamTrack;

describe('RoomClient', () => {
  beforeEach(() => {
    server = new FakeServer();
    StatsHandler.packets = 0;
    StatsHandler.restarts = 0;
    clock = 1000;
  });

  it('join() loads the device, creates the recv transport, then consumes and resumes every producer in the room, the agent’s included', async () => {
    server.peers.push({ peerId: 'bob', identity: 'bob', role: 'member' });
    server.addProducer('bob', 'bob-mic');
    server.addProducer('agent', 'agent-p');
    const { room, seen } = client();
    const r = await room.join();

    expect(r.peerId).toBe('me');
    expect(room.state).toBe('joined');
    expect(room.handlerName).toBe('FakeHandler');
    expect(server.requests.map((q) => q.method).slice(0, 2)).toEqual(['join', 'createTransport']);
    expect(server.of('createTransport')).toEqual([{ direction: 'recv' }]);
    expect(
      server
        .of('consume')
        .map((d) => d['producerId'])
        .sort(),
    ).toEqual(['agent-p', 'bob-mic']);
    // mediasoup-client connects the transport on the first consume, with its DTLS parameters.
    expect(server.of('connectTransport')).toHaveLength(1);
    expect(server.of('connectTransport')[0]?.['dtlsParameters']).toMatchObject({
      role: 'client',
      fingerprints: expect.any(Array),
    });
    expect(
      server
        .of('resumeConsumer')
        .map((d) => d['consumerId'])
        .sort(),
    ).toEqual(['c-agent-p', 'c-bob-mic']);
    expect(room.tracks.map((t) => [t.peerId, t.producerId, t.kind]).sort()).toEqual([
      ['agent', 'agent-p', 'audio'],
      ['bob', 'bob-mic', 'audio'],
    ]);
    expect(room.participants.map((p) => [p.peerId, p.isLocal, p.isAgent])).toEqual([
      ['me', true, false],
      ['bob', false, false],
      ['agent', false, true],
    ]);
    expect(seen('latency')).toEqual([{ kind: 'join', ms: 0, at: 1000 }]);
    expect(seen('trackAdded')).toHaveLength(2);
  });

  it('publish() creates the send transport and wires connect/produce to the protocol; setMicMuted pauses here and at the SFU', async () => {
    const { room, seen } = client();
    await room.join();
    const id = await room.publish(mic());

    expect(id).toBe('mine-1');
    expect(room.micProducerId).toBe('mine-1');
    const send = server.of('createTransport').find((d) => d['direction'] === 'send');
    expect(send).toBeDefined();
    const produce = server.of('produce')[0] as Record<string, unknown>;
    expect(produce['kind']).toBe('audio');
    expect(produce['paused']).toBeUndefined();
    expect(JSON.stringify(produce['rtpParameters'])).toContain('audio/opus');
    const connects = server.of('connectTransport');
    expect(connects).toHaveLength(1);
    expect(connects[0]?.['transportId']).toBe(produce['transportId']);
    expect(room.participants[0]?.producerIds).toEqual(['mine-1']);

    await room.setMicMuted(true);
    expect(room.micMuted).toBe(true);
    expect(server.of('pauseProducer')).toEqual([{ producerId: 'mine-1' }]);
    await room.setMicMuted(false);
    expect(server.of('resumeProducer')).toEqual([{ producerId: 'mine-1' }]);
    expect(seen('micMuted')).toEqual([
      { muted: true, byAdmin: false },
      { muted: false, byAdmin: false },
    ]);

    // An admin mute arrives as a notification naming our producer.
    server.notify('muted', { muted: true, producers: ['mine-1'] });
    expect(room.micMuted).toBe(true);
    expect(seen('micMuted').at(-1)).toEqual({ muted: true, byAdmin: true });
  });

  it('join() asks for its transports with the join and uses the ones answered instead of createTransport', async () => {
    server.overrides.join = () =>
      server.joinResult({ createdTransports: [made('send'), made('recv')] });
    const { room } = client();
    await room.join();
    expect(server.of('join')[0]).toMatchObject({ createTransports: true });
    await room.publish(new FakeMediaStreamTrack({ kind: 'audio' }) as unknown as MediaStreamTrack);
    expect(server.of('createTransport')).toEqual([]);
    expect(server.of('produce')[0]).toMatchObject({ transportId: 'send-t' });
    expect(server.of('connectTransport').map((d) => d['transportId'])).toEqual(['send-t']);
  });

  it('publish() without the publish grant rejects with FORBIDDEN and sends nothing', async () => {
    server.grants = { join: true, publish: false, subscribe: true, admin: false };
    const { room } = client();
    await room.join();
    await expect(room.publish(mic())).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(server.of('produce')).toEqual([]);
  });

  it('a listener without the subscribe grant creates no recv transport and consumes nothing', async () => {
    server.grants = { join: true, publish: true, subscribe: false, admin: false };
    server.addProducer('bob', 'bob-mic');
    const { room } = client();
    await room.join();
    expect(server.of('createTransport')).toEqual([]);
    expect(server.of('consume')).toEqual([]);
  });

  it('follows the room: new producers are consumed, closed ones and departed peers drop their tracks', async () => {
    const { room, seen } = client();
    await room.join();
    server.peers.push({ peerId: 'bob', identity: 'bob', role: 'member' });
    server.notify('peerJoined', { peer: { peerId: 'bob', identity: 'bob', role: 'member' } });
    server.addProducer('bob', 'bob-mic');
    server.notify('newProducer', {
      producerId: 'bob-mic',
      peerId: 'bob',
      kind: 'audio',
      paused: false,
    });
    // The same announcement twice consumes once.
    server.notify('newProducer', {
      producerId: 'bob-mic',
      peerId: 'bob',
      kind: 'audio',
      paused: false,
    });
    await until(() => room.tracks.length === 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(server.of('consume')).toHaveLength(1);
    expect(seen('participantJoined').map((p) => p.identity)).toEqual(['bob']);

    server.notify('producerPaused', { producerId: 'bob-mic', peerId: 'bob', paused: true });
    expect(room.tracks[0]?.paused).toBe(true);

    server.addProducer('bob', 'bob-2');
    server.notify('newProducer', {
      producerId: 'bob-2',
      peerId: 'bob',
      kind: 'audio',
      paused: false,
    });
    await until(() => room.tracks.length === 2);
    server.notify('producerClosed', { producerId: 'bob-2', peerId: 'bob' });
    expect(room.tracks.map((t) => t.producerId)).toEqual(['bob-mic']);
    server.notify('peerLeft', { peerId: 'bob', reason: 'left' });
    expect(room.tracks).toEqual([]);
    expect(room.participants.map((p) => p.peerId)).toEqual(['me']);
    expect(seen('trackRemoved').map((t) => t.producerId)).toEqual(['bob-2', 'bob-mic']);
    expect(seen('participantLeft').map((p) => p.peerId)).toEqual(['bob']);
  });

  it('a producer that vanished before it could be consumed is skipped without an error event', async () => {
    const { room, seen } = client();
    await room.join();
    server.notify('newProducer', {
      producerId: 'gone',
      peerId: 'bob',
      kind: 'audio',
      paused: false,
    });
    await until(() => server.of('consume').length === 1);
    await new Promise((r) => setTimeout(r, 10));
    expect(room.tracks).toEqual([]);
    expect(seen('error')).toEqual([]);
  });

  it('transcripts arrive as typed partial/final events; a final of own speech yields the end-of-speech → final latency', async () => {
    const { room, seen } = client();
    await room.join();
    const seg = { utteranceId: 'u1', peerId: 'me', identity: 'ada', text: 'hel', startMs: 0 };
    clock = 2000;
    server.notify('transcriptPartial', seg);
    room.markSpeech({ startedAt: 1200, endedAt: 2100 });
    clock = 2700;
    server.notify('transcriptFinal', { ...seg, text: 'hello', endMs: 900 });
    server.notify('transcriptFinal', { ...seg, utteranceId: 'u2', peerId: 'bob', text: 'hi' });

    expect(seen('transcriptPartial')).toEqual([
      { ...seg, final: false, receivedAt: 2000, isLocal: true },
    ]);
    expect(seen('transcriptFinal').map((t) => [t.utteranceId, t.final, t.isLocal])).toEqual([
      ['u1', true, true],
      ['u2', true, false],
    ]);
    expect(seen('latency').filter((l) => l.kind === 'eosToFinal')).toEqual([
      { kind: 'eosToFinal', ms: 600, at: 2700, ref: 'u1' },
    ]);
    expect(room.latencies.eosToFinal?.ms).toBe(600);
  });

  it('say() sends the text, consumes the agent producer and measures say → first audio packet from the consumer stats', async () => {
    const { room, seen } = client();
    await room.join();
    clock = 5000;
    const r = await room.say('hello room');
    expect(r).toEqual({ requestId: 'say-1', producerId: 'agent-p', queued: 0 });
    expect(server.of('say')).toEqual([{ text: 'hello room' }]);
    await until(() => room.tracks.some((t) => t.peerId === 'agent'));
    await new Promise((r) => setTimeout(r, 10));
    expect(seen('latency').filter((l) => l.kind === 'sayToFirstAudio')).toEqual([]);
    clock = 5120;
    StatsHandler.packets = 3;
    await until(() => seen('latency').some((l) => l.kind === 'sayToFirstAudio'));
    expect(room.latencies.sayToFirstAudio).toEqual({
      kind: 'sayToFirstAudio',
      ms: 120,
      at: 5120,
      ref: 'say-1',
    });
    const stats = await room.getInboundStats();
    expect(stats).toEqual([
      expect.objectContaining({ peerId: 'agent', producerId: 'agent-p', bytesReceived: 240 }),
    ]);

    server.notify('ttsStarted', { requestId: 'say-1', producerId: 'agent-p' });
    expect(room.participants.find((p) => p.isAgent)?.speaking).toBe(true);
    server.notify('ttsEnded', { requestId: 'say-1', producerId: 'agent-p', reason: 'done' });
    expect(room.participants.find((p) => p.isAgent)?.speaking).toBe(false);
    expect(seen('ttsEnded')[0]).toMatchObject({ requestId: 'say-1', reason: 'done' });
  });

  it('say() errors reject with the server’s code', async () => {
    const { room } = client();
    await room.join();
    server.overrides.say = () => {
      throw { code: 'TTS_UNAVAILABLE', message: 'no tts', retryable: true };
    };
    await expect(room.say('x')).rejects.toMatchObject({ code: 'TTS_UNAVAILABLE', retryable: true });
  });

  it('activeSpeaker marks the loud participants speaking and clears them on silence', async () => {
    server.peers.push({ peerId: 'bob', identity: 'bob', role: 'member' });
    const { room } = client();
    await room.join();
    server.notify('activeSpeaker', { peerId: 'bob', volumes: [{ peerId: 'bob', dBov: -20 }] });
    expect(room.participants.map((p) => [p.peerId, p.speaking, p.dBov])).toEqual([
      ['me', false, undefined],
      ['bob', true, -20],
    ]);
    server.notify('activeSpeaker', { peerId: null, volumes: [] });
    expect(room.participants.every((p) => !p.speaking)).toBe(true);
  });

  it('after a drop, a resumed session restarts ICE on its transports and keeps its consumers and producer', async () => {
    server.addProducer('bob', 'bob-mic');
    const { room, seen } = client();
    const first = await room.join();
    await room.publish(mic());
    const transports = server.of('createTransport').length;
    // The resumed join names both transports with fresh ICE parameters.
    const recvId = server.of('consume')[0]?.['transportId'] as string;
    const sendId = server.of('produce')[0]?.['transportId'] as string;
    const ice = fake.generateTransportRemoteParameters().iceParameters;
    server.resumeAnswer = (sessionId) =>
      server.joinResult({
        sessionId,
        resumed: true,
        transports: [
          { transportId: recvId, direction: 'recv', iceParameters: ice },
          { transportId: sendId, direction: 'send', iceParameters: ice },
        ],
        ownProducers: [{ producerId: 'mine-1', peerId: 'me', kind: 'audio', paused: false }],
      });
    server.socket.serverClose(1006, 'network');
    await until(() => seen('reconnected').length === 1);

    expect(seen('reconnected')).toEqual([{ resumed: true }]);
    expect(server.of('join').at(-1)).toEqual({ sessionId: first.sessionId });
    expect(StatsHandler.restarts).toBe(2);
    expect(server.of('createTransport')).toHaveLength(transports);
    expect(server.of('produce')).toHaveLength(1);
    expect(room.tracks.map((t) => t.producerId)).toEqual(['bob-mic']);
    expect(room.state).toBe('joined');
  });

  it('a transport the join answered but not used yet gets the ICE parameters of a resume', async () => {
    server.overrides.join = (d) =>
      typeof d['sessionId'] === 'string' && server.resumeAnswer
        ? server.resumeAnswer(d['sessionId'])
        : server.joinResult({ createdTransports: [made('send'), made('recv')] });
    const { room, seen } = client();
    await room.join();
    const ice = { usernameFragment: 'fresh-ufrag', password: 'fresh-pwd', iceLite: true };
    server.resumeAnswer = (sessionId) =>
      server.joinResult({
        sessionId,
        resumed: true,
        transports: [
          { transportId: 'recv-t', direction: 'recv', iceParameters: ice },
          { transportId: 'send-t', direction: 'send', iceParameters: ice },
        ],
      });
    server.socket.serverClose(1006, 'network');
    await until(() => seen('reconnected').length === 1);
    const prepared = (room as unknown as { prepared: Map<string, { iceParameters: unknown }> })
      .prepared;
    expect(prepared.get('send')?.iceParameters).toEqual(ice);
    await room.publish(mic());
    expect(server.of('createTransport')).toEqual([]);
    expect(server.of('produce')[0]).toMatchObject({ transportId: 'send-t' });
  });

  it('after a drop the server no longer knows, the client rebuilds transports, consumers and its microphone', async () => {
    server.addProducer('bob', 'bob-mic');
    const { room, seen } = client();
    await room.join();
    await room.publish(mic());
    server.socket.serverClose(1006, 'network');
    await until(() => seen('reconnected').length === 1);

    expect(seen('reconnected')).toEqual([{ resumed: false }]);
    expect(server.of('createTransport').map((d) => d['direction'])).toEqual([
      'recv',
      'send',
      'recv',
      'send',
    ]);
    expect(server.of('produce')).toHaveLength(2);
    expect(room.micProducerId).toBe('mine-2');
    expect(server.of('consume')).toHaveLength(2);
    expect(room.tracks.map((t) => t.producerId)).toEqual(['bob-mic']);
    expect(seen('trackRemoved').map((t) => t.producerId)).toEqual(['bob-mic']);
  });

  it('a failed join rejects with the server error and leaves the client closed', async () => {
    server.overrides.join = () => {
      throw { code: 'ROOM_FULL', message: 'full' };
    };
    const { room, seen } = client();
    await expect(room.join()).rejects.toMatchObject({ code: 'ROOM_FULL' });
    expect(room.state).toBe('closed');
    expect(seen('closed')).toHaveLength(1);
    await expect(room.say('x')).rejects.toMatchObject({ code: 'NOT_JOINED' });
  });

  it('leave() sends leave, closes every transport and does not reconnect', async () => {
    server.addProducer('bob', 'bob-mic');
    const { room, seen } = client();
    await room.join();
    await room.leave();
    expect(server.of('leave')).toEqual([{}]);
    expect(room.state).toBe('closed');
    expect(room.tracks).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.sockets).toHaveLength(1);
    expect(seen('closed')).toEqual([{ reason: 'left' }]);
  });

  it('a removal notification closes the client for good', async () => {
    const { room, seen } = client();
    await room.join();
    server.notify('removed', { reason: 'removed' });
    server.socket.serverClose(4003, 'removed');
    expect(room.state).toBe('closed');
    await new Promise((r) => setTimeout(r, 20));
    expect(server.sockets).toHaveLength(1);
    expect(seen('closed')).toEqual([{ reason: 'removed (removed)' }]);
  });
});
