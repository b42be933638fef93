import { Writable } from 'node:stream';
import type { SignalingClient } from '@parley/client';
import {
  type SttTranscriptEvent,
  scopedRoomId,
  sttEvents,
  voiceContracts,
  voiceEvents,
} from '@parley/contracts';
import { MessagingError, NatsMessaging } from '@parley/messaging';
import { createLogger } from '@parley/observability';
import { type PrivateServer, eventually, startNatsServer, testRunId } from '@parley/testing';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  joined,
  startSignaling,
  type TestSignaling,
} from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Collects a client's voice notifications. */
function voiceNotes(c: SignalingClient) {
  const seen: Array<{ method: string; data: Record<string, unknown> }> = [];
  for (const m of ['transcriptPartial', 'transcriptFinal', 'ttsStarted', 'ttsEnded'] as const) {
    c.on(m, (data: unknown) => seen.push({ method: m, data: data as Record<string, unknown> }));
  }
  return (m: string) => seen.filter((x) => x.method === m).map((x) => x.data);
}

function transcript(
  roomId: string,
  participantId: string,
  final: boolean,
  text: string,
): SttTranscriptEvent {
  return {
    roomId,
    participantId,
    utteranceId: `u-${final ? 'f' : 'p'}-${text.length}`,
    final,
    text,
    segments: [],
    language: 'en',
    startMs: 1000,
    endMs: 2500,
    workerId: 'w1',
    createdAt: Date.now(),
  };
}

// Signaling's side of the voice loop with real NATS and Redis: transcripts and speech events fan
// out to the room's sockets (and only that room's), `say`/`stopSpeech` reach the SFU's say subject
// with the right caller and rights, and the echo agent answers finals in its rooms only. A stand-in
// serves the SFU's `sfu.say.*` subjects.
describe('signaling: transcripts, speech into the room, echo agent', () => {
  const run = testRunId('voice');
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let sig: TestSignaling;
  let bus: NatsMessaging;
  const says: Array<Record<string, unknown>> = [];
  const stops: Array<Record<string, unknown>> = [];
  const served = new Set<string>();

  /** Serves `sfu.say.start|stop.<roomId>` as the SFU hosting the room would. */
  function serveSay(roomId: string): void {
    if (served.has(roomId)) return;
    served.add(roomId);
    const direct = { tokens: [roomId], queue: false as const };
    bus.serve(
      voiceContracts.say,
      (r) => {
        says.push(r);
        if (r.text.includes('explode')) throw new MessagingError('BAD_REQUEST', 'unknown voice');
        return { sayId: r.sayId ?? 'generated', producerId: 'agent-producer', queued: 0 };
      },
      direct,
    );
    bus.serve(
      voiceContracts.sayStop,
      (r) => {
        stops.push(r);
        return { stopped: r.sayId ? 1 : 3 };
      },
      direct,
    );
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    sig = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:`,
    });
    bus = new NatsMessaging({
      servers: [nats.url],
      name: 'voice-test',
      queue: 'voice-test',
      logger: createLogger({
        service: 'test',
        nodeId: 'test',
        level: 'error',
        stream: new Writable({ write: (_c, _e, cb) => cb() }),
      }),
    });
    bus.start();
    await bus.waitUntilConnected();
  });

  afterAll(async () => {
    await bus?.close();
    await sig?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  it("transcripts reach every socket of the room with the speaker's identity, and no other room's", async () => {
    const room = `t-${run}`;
    const roomId = scopedRoomId('acme', room);
    const alice = await joined(sig, TENANTS.acme, 'alice', room);
    const bob = await joined(sig, TENANTS.acme, 'bob', room);
    const eve = await joined(sig, TENANTS.globex, 'eve', room);
    const [a, b, e] = [voiceNotes(alice.client), voiceNotes(bob.client), voiceNotes(eve.client)];

    bus.publish(sttEvents.transcriptPartial, transcript(roomId, alice.join.peerId, false, 'hel'), {
      tokens: [roomId],
    });
    bus.publish(
      sttEvents.transcriptFinalized,
      transcript(roomId, alice.join.peerId, true, 'hello'),
      { tokens: [roomId] },
    );
    await eventually(() => b('transcriptFinal').length === 1 && a('transcriptFinal').length === 1);
    expect(b('transcriptPartial')[0]).toMatchObject({ text: 'hel', peerId: alice.join.peerId });
    expect(b('transcriptFinal')[0]).toMatchObject({
      text: 'hello',
      peerId: alice.join.peerId,
      identity: 'alice',
      startMs: 1000,
      endMs: 2500,
    });
    // The other tenant's room of the same name hears nothing.
    await new Promise((r) => setTimeout(r, 200));
    expect(e('transcriptFinal')).toEqual([]);
    expect(e('transcriptPartial')).toEqual([]);
    for (const c of [alice, bob, eve]) c.client.close();
  });

  it('say and stopSpeech reach the SFU with the caller; listeners cannot speak; members stop only their own; an admin stops all', async () => {
    const room = `s-${run}`;
    const roomId = scopedRoomId('acme', room);
    const alice = await joined(sig, TENANTS.acme, 'alice', room);
    const bob = await joined(sig, TENANTS.acme, 'bob', room);
    const lou = await joined(sig, TENANTS.acme, 'lou', room, { role: 'listener' });
    const boss = await joined(sig, TENANTS.acme, 'boss', room, { role: 'admin' });

    // Nobody serves the room's say subject yet: the room is not live.
    await expect(alice.client.request('say', { text: 'hi' })).rejects.toMatchObject({
      code: 'ROOM_NOT_LIVE',
    });
    serveSay(roomId);
    await bus.connection.flush();

    const r = await alice.client.request('say', { text: 'Good morning.', interrupt: true });
    expect(r).toMatchObject({ producerId: 'agent-producer', queued: 0 });
    expect(says.at(-1)).toMatchObject({
      roomId,
      text: 'Good morning.',
      interrupt: true,
      requestedBy: `peer:${alice.join.peerId}`,
      sayId: r.requestId,
    });
    // The SFU's refusal keeps its code.
    await expect(alice.client.request('say', { text: 'explode' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    // Schema: empty text never leaves signaling.
    const before = says.length;
    await expect(alice.client.request('say', { text: '  ' })).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    expect(says.length).toBe(before);
    await expect(lou.client.request('say', { text: 'hi' })).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });

    await expect(
      bob.client.request('stopSpeech', { requestId: r.requestId }),
    ).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(bob.client.request('stopSpeech', {})).rejects.toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(await alice.client.request('stopSpeech', { requestId: r.requestId })).toEqual({
      stopped: 1,
    });
    expect(stops.at(-1)).toEqual({ roomId, sayId: r.requestId });
    expect(await boss.client.request('stopSpeech', {})).toEqual({ stopped: 3 });
    expect(stops.at(-1)).toEqual({ roomId });

    // Speech events become ttsStarted / ttsEnded for the room.
    const b = voiceNotes(bob.client);
    bus.publish(
      voiceEvents.sayStarted,
      {
        roomId,
        sayId: r.requestId,
        producerId: 'agent-producer',
        voice: 'v',
        text: 'Good morning.',
        requestedAt: 1,
        firstPacketAt: 2,
      },
      { tokens: [roomId] },
    );
    bus.publish(
      voiceEvents.sayEnded,
      {
        roomId,
        sayId: r.requestId,
        producerId: 'agent-producer',
        reason: 'barge_in',
        playedMs: 480,
        endedAt: 3,
      },
      { tokens: [roomId] },
    );
    await eventually(() => b('ttsEnded').length === 1);
    expect(b('ttsStarted')[0]).toMatchObject({
      requestId: r.requestId,
      producerId: 'agent-producer',
      firstPacketAt: 2,
    });
    expect(b('ttsEnded')[0]).toMatchObject({ requestId: r.requestId, reason: 'barge_in' });
    for (const c of [alice, bob, lou, boss]) c.client.close();
  });

  it('REST say needs the room to exist and be live; the echo agent answers finals in its rooms only', async () => {
    const auth = { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' };
    const echo = `echo-${run}`;
    const plain = `plain-${run}`;
    for (const [name, agent] of [
      [echo, 'echo'],
      [plain, 'none'],
    ] as const) {
      const res = await fetch(`${sig.url}/v1/rooms`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ name, transcription: true, agent }),
      });
      expect(res.status).toBe(201);
    }
    const missing = await fetch(`${sig.url}/v1/rooms/nope-${run}/say`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(missing.status).toBe(404);
    const notLive = await fetch(`${sig.url}/v1/rooms/${plain}/say`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(notLive.status).toBe(409);
    expect(await notLive.json()).toMatchObject({ code: 'ROOM_NOT_LIVE' });

    const echoId = scopedRoomId('acme', echo);
    const plainId = scopedRoomId('acme', plain);
    serveSay(echoId);
    serveSay(plainId);
    await bus.connection.flush();
    const ok = await fetch(`${sig.url}/v1/rooms/${plain}/say`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ text: 'Welcome.' }),
    });
    expect(ok.status).toBe(202);
    expect(says.at(-1)).toMatchObject({ roomId: plainId, requestedBy: 'rest:api-key' });

    const before = says.length;
    bus.publish(sttEvents.transcriptFinalized, transcript(plainId, 'p1', true, 'ignored'), {
      tokens: [plainId],
    });
    bus.publish(sttEvents.transcriptFinalized, transcript(echoId, 'p1', true, 'ship it'), {
      tokens: [echoId],
    });
    await eventually(() => says.slice(before).some((s) => s['roomId'] === echoId));
    await new Promise((r) => setTimeout(r, 200));
    const answers = says.slice(before);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({
      roomId: echoId,
      text: 'You said: ship it',
      requestedBy: 'agent:echo',
    });
  });
  it('with two replicas the echo agent answers each final once and measures each utterance once', async () => {
    const second = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${run}:`,
    });
    try {
      const auth = { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' };
      const name = `echo2-${run}`;
      const res = await fetch(`${sig.url}/v1/rooms`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ name, transcription: true, agent: 'echo' }),
      });
      expect(res.status).toBe(201);
      const roomId = scopedRoomId('acme', name);
      serveSay(roomId);
      await bus.connection.flush();
      const count = async (url: string) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return Number(
          /^parley_voice_eos_to_final_seconds_count(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0,
        );
      };
      const before = (await count(sig.url)) + (await count(second.url));
      const saysBefore = says.length;
      const n = 8;
      for (let i = 0; i < n; i++) {
        const utteranceId = `u2-${run}-${i}`;
        const at = Date.now() - 2000;
        bus.publish(
          voiceEvents.speechEnded,
          { roomId, peerId: 'p1', utteranceId, at, startMs: 0, endMs: 1500, decidedAt: at + 1900 },
          { tokens: [roomId] },
        );
        await bus.connection.flush();
        bus.publish(
          sttEvents.transcriptFinalized,
          { ...transcript(roomId, 'p1', true, `take ${i}`), utteranceId },
          { tokens: [roomId] },
        );
      }
      await eventually(() => says.length - saysBefore >= n);
      await new Promise((r) => setTimeout(r, 200));
      expect(says.length - saysBefore).toBe(n);
      // Each final was answered by one replica, and that replica knew when its speech ended.
      expect((await count(sig.url)) + (await count(second.url)) - before).toBe(n);
    } finally {
      await second.close();
    }
  });
});
