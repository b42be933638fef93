import { MediaError, type MediaErrorCode } from './MediaError';
import type { Peer } from './Peer';
import { Room } from './Room';
import { RoomManager, type RoomRecreatedEvent } from './RoomManager';
import { useWorkerBinary } from './MediaWorker';
import { WorkerPool, type WorkerReplacedEvent } from './WorkerPool';
import {
  connectToneSender,
  connectWeriftReceiver,
  connectWrtcDecoder,
  waitFor,
  waitForAsync,
  type RtpReceiver,
  type ToneSender,
} from '../test-support/clients';
import { OPUS_RECV_CAPABILITIES } from '../test-support/sdp';
import { assertWorkerBinary } from '../test-support/worker-binary';

async function expectCode(call: () => unknown, code: MediaErrorCode): Promise<void> {
  let caught: unknown;
  try {
    await call();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(MediaError);
  expect((caught as MediaError).code).toBe(code);
}

describe('@parley/media with the real mediasoup worker', () => {
  let pool: WorkerPool;
  let manager: RoomManager;
  const closers: (() => void)[] = [];

  beforeAll(async () => {
    assertWorkerBinary();
    pool = await WorkerPool.create({
      numWorkers: 2,
      listenIp: '127.0.0.1',
      resourcePollIntervalMs: 0,
      logLevel: 'warn',
    });
    manager = new RoomManager(pool, {
      defaults: { idleTimeoutMs: 0, audioLevel: { intervalMs: 300 } },
    });
  });

  afterEach(() => {
    for (const close of closers.splice(0)) close();
  });

  afterAll(() => {
    manager?.close();
    pool?.close();
  });

  function track<T extends { close(): void }>(client: T): T {
    closers.push(() => client.close());
    return client;
  }

  async function sendAndReceive(
    sender: Peer,
    receiver: Peer,
  ): Promise<{ tx: ToneSender; rx: RtpReceiver }> {
    const tx = track(await connectToneSender(sender));
    const rx = track(await connectWeriftReceiver(receiver, tx.producerId));
    return { tx, rx };
  }

  it('a werift client receives as Opus RTP what a wrtc client produces in the same room', async () => {
    const before = pool.metrics().workers.map((w) => w.consumers + w.producers + w.transports);
    const room = await manager.getOrCreateRoom('rtp-flow');
    const alice = await room.join('alice');
    const bob = await room.join('bob');
    const newProducer = new Promise((resolve) => room.once('newproducer', resolve));

    const { tx, rx } = await sendAndReceive(alice, bob);

    await expect(newProducer).resolves.toMatchObject({ id: tx.producerId, peerId: 'alice' });
    await waitFor(() => rx.packets >= 50, 15_000, '50 RTP packets at the werift client');
    const opus = rx.consumer.rtpParameters.codecs[0];
    expect(opus?.mimeType.toLowerCase()).toBe('audio/opus');
    expect(rx.bytes).toBeGreaterThan(0);
    expect([...rx.payloadTypes]).toEqual([opus?.payloadType]);
    // Every payload is an Opus packet as libwebrtc sends it: the TOC byte (RFC 6716 §3.1) says one
    // frame (code 0) of 20 ms — SILK configs 1/5/9, hybrid 13/15, CELT 19/23/27/31.
    const twentyMs = new Set([1, 5, 9, 13, 15, 19, 23, 27, 31]);
    expect(rx.tocBytes.length).toBeGreaterThan(0);
    expect(rx.tocBytes.filter((toc) => !twentyMs.has(toc >> 3) || (toc & 3) !== 0)).toEqual([]);

    const stats = await room.getStats();
    expect(stats.peers).toBe(2);
    const producer = stats.producers.find((p) => p.id === tx.producerId);
    expect(producer?.packetCount).toBeGreaterThan(0);
    expect(producer?.mimeType).toBe('audio/opus');
    expect(stats.consumers[0]?.byteCount).toBeGreaterThan(0);
    expect(stats.transports.some((t) => t.dtlsState === 'connected')).toBe(true);
    const all = await manager.collectRoomStats();
    expect(all.map((r) => r.roomId)).toContain('rtp-flow');
    expect(manager.metrics()).toMatchObject({ rooms: 1, peers: 2, liveWorkers: 2 });

    room.close();
    expect(room.closed).toBe(true);
    await waitFor(
      () =>
        pool
          .metrics()
          .workers.every((w, i) => w.consumers + w.producers + w.transports === before[i]),
      2_000,
      'worker counters back to their baseline',
    );
  });

  it('a wrtc client decodes the forwarded Opus back to the sender tone', async () => {
    const room = await manager.getOrCreateRoom('decode');
    const alice = await room.join('alice');
    const carol = await room.join('carol');
    const tx = track(await connectToneSender(alice, 440));
    const rx = track(await connectWrtcDecoder(carol, tx.producerId));

    let pcm = await rx.stats();
    await waitForAsync(
      async () => (pcm = await rx.stats()).toneSamples >= pcm.sampleRate,
      15_000,
      'one second of decoded tone',
    );
    const rms = Math.sqrt(pcm.sumSquares / pcm.toneSamples);
    const frequency = pcm.zeroCrossings / 2 / (pcm.toneSamples / pcm.sampleRate);
    expect(rms).toBeGreaterThan(2000);
    expect(Math.abs(frequency - 440)).toBeLessThan(30);
    room.close();
  });

  it('the AudioLevelObserver reports the producing peer as active speaker', async () => {
    const room = await manager.getOrCreateRoom('levels');
    const alice = await room.join('alice');
    const speaker = new Promise((resolve) => room.once('activespeaker', resolve));
    track(await connectToneSender(alice));
    await expect(speaker).resolves.toMatchObject({ peerId: 'alice' });
    room.close();
  });

  it('bad input is rejected with typed MediaError codes and never kills a worker', async () => {
    const pids = pool.workers().map((w) => w.pid);
    const room = await manager.getOrCreateRoom('bad-input');
    const peer = await room.join('mallory');
    const t = await peer.createWebRtcTransport();
    const fakeDtls = {
      role: 'client' as const,
      fingerprints: [{ algorithm: 'sha-256' as const, value: 'AB:CD' }],
    };

    await expectCode(() => manager.getRoom('no-such-room'), 'NOT_FOUND');
    await expectCode(() => room.getPeer('nobody'), 'NOT_FOUND');
    await expectCode(() => room.join('mallory'), 'ALREADY_EXISTS');
    await expectCode(() => peer.connectTransport('no-such-transport', fakeDtls), 'NOT_FOUND');
    await expectCode(() => peer.closeProducer('no-such-producer'), 'NOT_FOUND');
    await expectCode(() => peer.resumeConsumer('no-such-consumer'), 'NOT_FOUND');
    await expectCode(
      () =>
        peer.consume({
          transportId: t.id,
          producerId: 'no-such-producer',
          rtpCapabilities: OPUS_RECV_CAPABILITIES,
        }),
      'NOT_FOUND',
    );
    await expectCode(
      () => peer.connectTransport(t.id, { fingerprints: [] } as never),
      'BAD_REQUEST',
    );
    await expectCode(
      () =>
        peer.produce({
          transportId: t.id,
          kind: 'audio',
          rtpParameters: {
            codecs: [{ mimeType: 'audio/x-nonsense', payloadType: 99, clockRate: 8000 }],
            encodings: [{ ssrc: 1111 }],
          },
        }),
      'BAD_RTP_PARAMETERS',
    );
    await expectCode(
      () =>
        peer.produce({
          transportId: t.id,
          kind: 'audio',
          rtpParameters: { codecs: 'opus' } as never,
        }),
      'BAD_RTP_PARAMETERS',
    );
    await expectCode(
      () =>
        peer.produce({ transportId: t.id, kind: 'smell' as never, rtpParameters: { codecs: [] } }),
      'BAD_REQUEST',
    );

    // A real producer, then a consumer whose device only knows PCMU: incompatible capabilities.
    const alice = await room.join('alice');
    const tx = track(await connectToneSender(alice));
    await expectCode(
      () =>
        peer.consume({
          transportId: t.id,
          producerId: tx.producerId,
          rtpCapabilities: {
            codecs: [
              { kind: 'audio', mimeType: 'audio/PCMU', clockRate: 8000, preferredPayloadType: 0 },
            ],
          },
        }),
      'CANNOT_CONSUME',
    );

    await peer.connectTransport(t.id, fakeDtls);
    await expectCode(() => peer.connectTransport(t.id, fakeDtls), 'ALREADY_CONNECTED');

    room.close();
    room.close(); // idempotent
    await expectCode(() => room.join('late'), 'ROOM_CLOSED');
    await expectCode(() => peer.createWebRtcTransport(), 'ROOM_CLOSED');
    await expectCode(
      () => peer.produce({ transportId: t.id, kind: 'audio', rtpParameters: { codecs: [] } }),
      'ROOM_CLOSED',
    );
    await expectCode(() => room.getStats(), 'ROOM_CLOSED');
    await expectCode(() => manager.closeRoom('bad-input'), 'NOT_FOUND');

    expect(pool.workers().map((w) => w.pid)).toEqual(pids);
    expect(pool.workers().every((w) => w.alive)).toBe(true);
    const again = await manager.getOrCreateRoom('bad-input');
    await expect((await again.join('x')).createWebRtcTransport()).resolves.toHaveProperty('id');
    again.close();
  });

  it('a room past its consumer threshold spans a second worker through pipeToRouter', async () => {
    const room = await manager.getOrCreateRoom('spill', { consumersPerRouter: 1 });
    const alice = await room.join('alice');
    const bob = await room.join('bob');
    const { tx } = await sendAndReceive(alice, bob);
    expect(room.routerCount).toBe(1);

    const carol = await room.join('carol');
    expect(room.routerCount).toBe(2);
    const workers = room.workers();
    expect(new Set(workers.map((w) => w.index)).size).toBe(2);
    const rx = track(await connectWeriftReceiver(carol, tx.producerId));
    await waitFor(() => rx.packets >= 25, 15_000, 'RTP through the pipe at the second router');
    expect(rx.bytes).toBeGreaterThan(0);

    // Closing the producer closes the piped consumer too, and tells its peer.
    const consumerClosed = new Promise((resolve) =>
      room.on('consumerclosed', (e) => e.peerId === 'carol' && resolve(e)),
    );
    alice.closeProducer(tx.producerId);
    await expect(consumerClosed).resolves.toMatchObject({
      consumerId: rx.consumer.id,
      reason: 'producerclosed',
    });
    room.close();
  });

  it('a room without peers closes itself after its idle timeout', async () => {
    const room = await manager.getOrCreateRoom('idle', { idleTimeoutMs: 150 });
    const peer = await room.join('p');
    const closed = new Promise((resolve) => room.once('closed', resolve));
    room.leave(peer.id);
    await expect(closed).resolves.toEqual({ reason: 'idle' });
    expect(manager.findRoom('idle')).toBeUndefined();
  });

  it('kill -9 of a worker mid-room: the pool replaces it and the room is re-created and usable', async () => {
    const room = await manager.getOrCreateRoom('crash');
    const alice = await room.join('alice');
    const bob = await room.join('bob');
    const { rx } = await sendAndReceive(alice, bob);
    await waitFor(() => rx.packets >= 10, 15_000, 'RTP before the crash');

    const [victim] = room.workers();
    if (!victim) throw new Error('room has no worker');
    const replaced = new Promise<WorkerReplacedEvent>((resolve) =>
      pool.once('workerreplaced', resolve),
    );
    const recreated = new Promise<RoomRecreatedEvent>((resolve) =>
      manager.on('roomrecreated', (e) => e.roomId === 'crash' && resolve(e)),
    );
    process.kill(victim.pid, 'SIGKILL');

    const [rep, rec] = await Promise.all([replaced, recreated]);
    expect(rep).toMatchObject({ index: victim.index, oldPid: victim.pid });
    expect(rep.newPid).not.toBe(victim.pid);
    expect(rep.roomIds).toContain('crash');
    expect(rec.peerIds.sort()).toEqual(['alice', 'bob']);
    expect(rec.previousWorkers).toEqual([victim]);
    expect(room.closed).toBe(true);
    await expectCode(() => alice.createWebRtcTransport(), 'ROOM_CLOSED');

    const fresh = manager.getRoom('crash');
    expect(fresh).toBe(rec.room);
    expect(fresh).not.toBe(room);
    expect(fresh.workers()[0]?.pid).not.toBe(victim.pid);
    await waitFor(() => pool.metrics().liveWorkers === 2, 10_000, 'two live workers');
    expect(pool.metrics().replacements).toBeGreaterThanOrEqual(1);

    // The peers reconnect to the re-created room and media flows again.
    const alice2 = await fresh.join('alice');
    const bob2 = await fresh.join('bob');
    const again = await sendAndReceive(alice2, bob2);
    await waitFor(() => again.rx.packets >= 25, 15_000, 'RTP after re-creation');
    fresh.close();
  });

  it('workers listen on basePort + index for UDP and TCP, and a replacement keeps its port', async () => {
    const basePort = 41000 + Math.floor(Math.random() * 7000);
    const fixed = await WorkerPool.create({
      numWorkers: 2,
      listenIp: '127.0.0.1',
      announcedAddress: 'sfu.example.test',
      basePort,
      resourcePollIntervalMs: 0,
    });
    try {
      const ports = fixed.metrics().workers.map((w) => [w.udpPort, w.tcpPort]);
      expect(ports).toEqual([
        [basePort, basePort],
        [basePort + 1, basePort + 1],
      ]);
      const room = await Room.create('ports', fixed, { idleTimeoutMs: 0 });
      const t = await (await room.join('p')).createWebRtcTransport();
      expect(t.iceCandidates.map((c) => c.address)).toEqual([
        'sfu.example.test',
        'sfu.example.test',
      ]);

      await fixed.sampleResourceUsage();
      await fixed.sampleResourceUsage();
      for (const w of fixed.metrics().workers) {
        expect(w.cpuPct).toBeGreaterThanOrEqual(0);
        expect(w.maxRssKb).toBeGreaterThan(0);
      }

      const [first] = fixed.workers();
      if (!first) throw new Error('no worker');
      const died = new Promise((resolve) => fixed.once('workerdied', resolve));
      const replaced = new Promise<WorkerReplacedEvent>((resolve) =>
        fixed.once('workerreplaced', resolve),
      );
      process.kill(first.pid, 'SIGKILL');
      await expect(died).resolves.toMatchObject({ index: first.index, pid: first.pid });
      await replaced;
      const after = fixed.metrics().workers.find((w) => w.index === first.index);
      expect([after?.udpPort, after?.tcpPort]).toEqual([
        basePort + first.index,
        basePort + first.index,
      ]);
    } finally {
      fixed.close();
    }
  });

  it('openRoom() says whether it created the room, and concurrent getOrJoin() calls share one join', async () => {
    const [first, second] = await Promise.all([
      manager.openRoom('open-join'),
      manager.openRoom('open-join'),
    ]);
    expect(first.room).toBe(second.room);
    expect([first.created, second.created].sort()).toEqual([false, true]);
    await expect(manager.openRoom('open-join')).resolves.toMatchObject({ created: false });

    const room = first.room;
    const [a, b] = await Promise.all([room.getOrJoin('alice'), room.getOrJoin('alice')]);
    expect(a).toBe(b);
    await expect(room.getOrJoin('alice')).resolves.toBe(a);
    expect(room.findPeer('alice')).toBe(a);
    expect(room.findPeer('nobody')).toBeUndefined();
    await a.createWebRtcTransport();
    await a.createWebRtcTransport();
    expect(room.counts()).toEqual({ peers: 1, transports: 2, producers: 0, consumers: 0 });
    room.close();
    expect(room.findPeer('alice')).toBeUndefined();
    await expectCode(() => room.getOrJoin('bob'), 'ROOM_CLOSED');
    await expectCode(() => room.touch(), 'ROOM_CLOSED');
  });

  it('opening an empty room again restarts its idle countdown', async () => {
    const { room } = await manager.openRoom('touch', { idleTimeoutMs: 400 });
    await new Promise((r) => setTimeout(r, 250));
    await manager.openRoom('touch');
    await new Promise((r) => setTimeout(r, 250));
    expect(room.closed).toBe(false);
    await waitFor(() => room.closed, 2000, 'the idle close');
  });

  it('produce({ paused: true }) starts the producer paused', async () => {
    const room = await manager.getOrCreateRoom('paused');
    const peer = await room.join('p');
    const t = await peer.createWebRtcTransport();
    const announced = new Promise((resolve) => room.once('newproducer', resolve));
    await peer.produce({
      transportId: t.id,
      kind: 'audio',
      paused: true,
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 4444 }],
      },
    });
    await expect(announced).resolves.toMatchObject({ peerId: 'p', paused: true });
    expect(room.producers()[0]?.paused).toBe(true);
    room.close();
  });

  it('useWorkerBinary() refuses a missing binary with NO_WORKER and the setup command', async () => {
    const current = useWorkerBinary();
    let caught: unknown;
    try {
      useWorkerBinary('/nonexistent/mediasoup-worker');
    } catch (err) {
      caught = err;
    } finally {
      useWorkerBinary(current);
    }
    expect(caught).toBeInstanceOf(MediaError);
    expect((caught as MediaError).code).toBe('NO_WORKER');
    expect((caught as MediaError).message).toContain('scripts/setup/mediasoup-worker.mjs');
    await expectCode(
      () => WorkerPool.create({ workerBin: '/nonexistent/mediasoup-worker', numWorkers: 1 }),
      'NO_WORKER',
    );
    useWorkerBinary(current);
    expect(useWorkerBinary()).toBe(current);
  });

  it('Room.create() on a closed pool fails with a MediaError', async () => {
    const lonely = await WorkerPool.create({
      numWorkers: 1,
      listenIp: '127.0.0.1',
      resourcePollIntervalMs: 0,
    });
    lonely.close();
    await expectCode(() => Room.create('r', lonely), 'INVALID_STATE');
  });
});
