import { WS_CLOSE } from '@parley/contracts';
import { type PrivateServer, startNatsServer, testRunId } from '@parley/testing';
import { FakeSfu } from '../test-support/fake-sfu';
import {
  TENANTS,
  basicAuth,
  client,
  joined,
  startSignaling,
  tokenFor,
  type TestSignaling,
} from '../test-support/harness';

const REDIS = process.env['PARLEY_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

describe('signaling REST /v1', () => {
  let nats: PrivateServer;
  let sfu: FakeSfu;
  let sig: TestSignaling;
  const acme = { authorization: basicAuth(TENANTS.acme), 'content-type': 'application/json' };
  const globex = { authorization: basicAuth(TENANTS.globex), 'content-type': 'application/json' };

  beforeAll(async () => {
    nats = await startNatsServer();
    sfu = await FakeSfu.start(nats.url);
    sig = await startSignaling({
      NATS_URL: nats.url,
      REDIS_URL: REDIS,
      REDIS_KEY_PREFIX: `${testRunId()}:`,
      SIGNALING_PUBLIC_URL: 'https://parley.example.com',
    });
  });

  afterAll(async () => {
    await sig?.close();
    await sfu?.stop();
    await nats?.dispose();
  });

  const call = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ) => {
    const res = await fetch(`${sig.url}${path}`, {
      method,
      headers,
      ...(body === undefined
        ? {}
        : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
      headers: res.headers,
    };
  };

  it('POST /v1/tokens mints a token the WebSocket accepts, with the role’s grants and the public ws URL', async () => {
    const r = await call('POST', '/v1/tokens', acme, {
      identity: 'ada@example.com',
      room: 'standup',
      role: 'listener',
      ttlS: 120,
    });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      identity: 'ada@example.com',
      room: 'standup',
      role: 'listener',
      grants: { join: true, publish: false, subscribe: true, admin: false },
      wsUrl: 'wss://parley.example.com/v1/ws',
    });
    expect(r.body['expiresAt']).toBeGreaterThan(Date.now() + 100_000);
    const c = client(sig, r.body['token'] as string);
    await c.connect();
    const j = await c.join();
    expect(j).toMatchObject({ identity: 'ada@example.com', role: 'listener' });
    c.close();
  });

  it('credentials problems are 401 with a precise code; participant tokens cannot mint tokens (403)', async () => {
    expect((await call('GET', '/v1/rooms', {})).body).toMatchObject({ code: 'UNAUTHORIZED' });
    const wrong = `Basic ${Buffer.from(`${TENANTS.acme.apiKey}:nope`).toString('base64')}`;
    expect(await call('GET', '/v1/rooms', { authorization: wrong })).toMatchObject({
      status: 401,
      body: { code: 'UNAUTHORIZED' },
    });
    const expired = await tokenFor(TENANTS.acme, 'boss', 'x', {
      role: 'admin',
      now: Date.now() - 7_200_000,
      ttlS: 60,
    });
    expect(await call('GET', '/v1/rooms/x', { authorization: `Bearer ${expired}` })).toMatchObject({
      status: 401,
      body: { code: 'TOKEN_EXPIRED' },
    });
    const admin = await tokenFor(TENANTS.acme, 'boss', 'x', { role: 'admin' });
    expect(
      await call(
        'POST',
        '/v1/tokens',
        { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        { identity: 'a', room: 'x' },
      ),
    ).toMatchObject({
      status: 403,
      body: { code: 'FORBIDDEN' },
    });
  });

  it('invalid bodies and path parameters are 400 with details; bad JSON is 400', async () => {
    const r = await call('POST', '/v1/rooms', acme, {
      name: 'bad name!',
      maxParticipants: 0,
      extra: 1,
    });
    expect(r.status).toBe(400);
    expect(r.body['code']).toBe('BAD_REQUEST');
    expect(await call('POST', '/v1/rooms', acme, '{not json')).toMatchObject({
      status: 400,
      body: { code: 'BAD_REQUEST' },
    });
    expect(await call('GET', `/v1/rooms/${'x'.repeat(80)}`, acme)).toMatchObject({ status: 400 });
  });

  it('creates, lists, gets and deletes rooms with their options; names are per tenant', async () => {
    const name = `room-${testRunId()}`;
    const created = await call('POST', '/v1/rooms', acme, {
      name,
      maxParticipants: 5,
      transcription: true,
      language: 'de',
      ttsVoice: 'de_DE-thorsten-low',
      emptyTimeoutS: 60,
    });
    expect(created).toMatchObject({
      status: 201,
      body: {
        name,
        maxParticipants: 5,
        transcription: true,
        language: 'de',
        ttsVoice: 'de_DE-thorsten-low',
        emptyTimeoutS: 60,
        participants: 0,
      },
    });
    expect(await call('POST', '/v1/rooms', acme, { name })).toMatchObject({
      status: 409,
      body: { code: 'CONFLICT' },
    });
    // Another tenant may use the same name; it does not see acme's room.
    expect(await call('POST', '/v1/rooms', globex, { name })).toMatchObject({
      status: 201,
      body: { maxParticipants: 100 },
    });
    const list = await call('GET', '/v1/rooms', acme);
    expect((list.body['rooms'] as Array<{ name: string }>).some((r) => r.name === name)).toBe(true);
    expect(await call('GET', `/v1/rooms/${name}`, acme)).toMatchObject({
      status: 200,
      body: { transcription: true },
    });

    const p = await joined(sig, TENANTS.acme, 'carol', name);
    expect(p.join.roomOptions).toEqual({
      transcription: true,
      language: 'de',
      ttsVoice: 'de_DE-thorsten-low',
    });
    expect(await call('GET', `/v1/rooms/${name}`, acme)).toMatchObject({
      body: { participants: 1 },
    });
    const closed = new Promise<{ code: number }>((resolve) => p.client.once('close', resolve));
    expect(await call('DELETE', `/v1/rooms/${name}`, acme)).toMatchObject({
      status: 200,
      body: { deleted: true },
    });
    expect((await closed).code).toBe(WS_CLOSE.removed);
    expect(await call('GET', `/v1/rooms/${name}`, acme)).toMatchObject({
      status: 404,
      body: { code: 'ROOM_NOT_FOUND' },
    });
    expect(await call('GET', `/v1/rooms/${name}`, globex)).toMatchObject({ status: 200 });
    expect(sfu.calls.some((c) => c.subject === 'sfu.room.close')).toBe(true);
  });

  it('an admin token only reaches its own room; removing an unknown participant is 404', async () => {
    const admin = await tokenFor(TENANTS.acme, 'boss', 'mine', { role: 'admin' });
    const h = { authorization: `Bearer ${admin}` };
    expect(await call('GET', '/v1/rooms/other/participants', h)).toMatchObject({ status: 403 });
    await call('POST', '/v1/rooms', acme, { name: 'mine' });
    expect(await call('GET', '/v1/rooms/mine/participants', h)).toMatchObject({
      status: 200,
      body: { participants: [] },
    });
    expect(await call('DELETE', '/v1/rooms/mine/participants/nobody', h)).toMatchObject({
      status: 404,
      body: { code: 'PARTICIPANT_NOT_FOUND' },
    });
  });

  it('serves a generated OpenAPI document at /v1/docs covering every route', async () => {
    const r = await call('GET', '/v1/docs', {});
    expect(r.status).toBe(200);
    expect(r.body['openapi']).toBe('3.1.0');
    const paths = r.body['paths'] as Record<string, Record<string, unknown>>;
    expect(Object.keys(paths).sort()).toEqual(
      [
        '/v1/rooms',
        '/v1/rooms/{room}',
        '/v1/rooms/{room}/participants',
        '/v1/rooms/{room}/participants/{identity}',
        '/v1/rooms/{room}/participants/{identity}/mute',
        '/v1/rooms/{room}/say',
        '/v1/tokens',
        '/v1/ws',
      ].sort(),
    );
    const body = (
      paths['/v1/rooms']?.['post'] as {
        requestBody: {
          content: Record<string, { schema: { properties: Record<string, unknown> } }>;
        };
      }
    ).requestBody.content['application/json']?.schema;
    expect(Object.keys(body?.properties ?? {})).toEqual(
      expect.arrayContaining([
        'name',
        'maxParticipants',
        'transcription',
        'language',
        'ttsVoice',
        'emptyTimeoutS',
      ]),
    );
  });
});
