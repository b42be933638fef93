import { Inject, Injectable } from '@nestjs/common';
import {
  type PeerInfo,
  type ProducerInfo,
  type Role,
  type RoomOptions,
  parseScopedRoomId,
} from '@parley/contracts';
import type { Redis } from 'ioredis';
import { SignalingError, storeError } from './errors';
import { RedisLink } from './redis-link';

/**
 * Signaling's shared state in Redis (keys under the runtime's prefix, then `sig:`):
 *
 * | key                      | type | content                                             |
 * |--------------------------|------|-----------------------------------------------------|
 * | `sig:room:<roomId>`      | hash | tenant, name, options (JSON), createdAt, sfuNode    |
 * | `sig:rooms:<tenant>`     | set  | room names of a tenant                              |
 * | `sig:peers:<roomId>`     | hash | peerId → participant JSON (presence, the count)     |
 * | `sig:ident:<roomId>`     | hash | identity → peerId                                   |
 * | `sig:prod:<roomId>`      | hash | producerId → producer JSON                          |
 * | `sig:sess:<sessionId>`   | hash | session: who, where, state, epoch, t:/p:/c: entities |
 * | `sig:grace`              | zset | disconnected sessions by grace deadline             |
 * | `sig:empty`              | zset | empty rooms by expiry deadline                      |
 * | `sig:nodes`              | zset | signaling nodes by last heartbeat                   |
 * | `sig:nodesess:<nodeId>`  | set  | sessions a node holds sockets for                   |
 *
 * Multi-key invariants (admission against max participants, session claims, sweeps) are Lua
 * scripts, so concurrent joins and replicas cannot overshoot or double-process.
 */

/** A room record. */
export interface RoomRecord {
  roomId: string;
  tenant: string;
  name: string;
  options: Required<Omit<RoomOptions, 'ttsVoice'>> & Pick<RoomOptions, 'ttsVoice'>;
  createdAt: number;
  sfuNode?: string;
}

/** Presence entry of a participant. */
export interface ParticipantRecord extends PeerInfo {
  sessionId: string;
  joinedAt: number;
}

/** Session state. */
export type SessionState = 'connected' | 'disconnected' | 'leaving';

/** A session as stored. */
export interface SessionRecord {
  sessionId: string;
  tenant: string;
  room: string;
  roomId: string;
  identity: string;
  peerId: string;
  role: Role;
  displayName?: string;
  sfuNode: string;
  owner: string;
  epoch: number;
  state: SessionState;
  muted: boolean;
  mutedProducers: string[];
  createdAt: number;
  joinedAt: number;
  transports: Map<string, 'send' | 'recv'>;
  producers: Map<string, string>;
  consumers: Map<string, string>;
}

const K = {
  room: (roomId: string) => `sig:room:${roomId}`,
  rooms: (tenant: string) => `sig:rooms:${tenant}`,
  peers: (roomId: string) => `sig:peers:${roomId}`,
  ident: (roomId: string) => `sig:ident:${roomId}`,
  prod: (roomId: string) => `sig:prod:${roomId}`,
  sess: (sid: string) => `sig:sess:${sid}`,
  grace: 'sig:grace',
  empty: 'sig:empty',
  nodes: 'sig:nodes',
  nodeSess: (node: string) => `sig:nodesess:${node}`,
};

/**
 * Removes a peer from a room (presence, identity index, its producers) and starts the empty-room
 * timer when it was the last; leaves `out` = {wasPresent, remaining, producerIds...}.
 * KEYS: peers, ident, prod, empty, room. ARGV: peerId, identity, roomId, emptyDeadline.
 */
const REMOVE_PEER_LUA = `local was = redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
local out = {was, 0}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  local ok, p = pcall(cjson.decode, all[i + 1])
  if ok and p['peerId'] == ARGV[1] then
    redis.call('HDEL', KEYS[3], all[i])
    table.insert(out, all[i])
  end
end
local left = redis.call('HLEN', KEYS[1])
out[2] = left
if left == 0 and redis.call('EXISTS', KEYS[5]) == 1 then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3]) end`;

const SCRIPTS = {
  // KEYS: room, rooms, empty. ARGV: tenant, name, options, createdAt, emptyDeadline, roomId
  sigRoomCreate: {
    keys: 3,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'tenant', ARGV[1], 'name', ARGV[2], 'options', ARGV[3], 'createdAt', ARGV[4])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
return 1`,
  },
  // KEYS: ident, peers. ARGV: identity. The participant JSON of an identity, or nil.
  sigByIdentity: {
    keys: 2,
    lua: `
local p = redis.call('HGET', KEYS[1], ARGV[1])
if not p then return nil end
return redis.call('HGET', KEYS[2], p)`,
  },
  // KEYS: room. ARGV: expected node ('' = none), new node. Returns the node recorded afterwards.
  sigRoomNode: {
    keys: 1,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return '' end
local cur = redis.call('HGET', KEYS[1], 'sfuNode') or ''
if cur == ARGV[1] then
  redis.call('HSET', KEYS[1], 'sfuNode', ARGV[2])
  return ARGV[2]
end
return cur`,
  },
  // KEYS: room, peers, ident, empty. ARGV: peerId, identity, participant, max, roomId
  sigAdmit: {
    keys: 4,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[5])
return 1`,
  },
  // KEYS: peers, ident, prod, empty, room. ARGV: peerId, identity, roomId, emptyDeadline
  // Returns {wasPresent, remaining, producerIds...}
  sigRemovePeer: {
    keys: 5,
    lua: `${REMOVE_PEER_LUA}
return out`,
  },
  // sigRemovePeer, then the session deleted and unindexed, in one command.
  // KEYS: peers, ident, prod, empty, room, sess, nodeSess, grace.
  // ARGV: peerId, identity, roomId, emptyDeadline, sid. Returns as sigRemovePeer.
  sigRemovePeerSession: {
    keys: 8,
    lua: `${REMOVE_PEER_LUA}
redis.call('DEL', KEYS[6])
redis.call('SREM', KEYS[7], ARGV[5])
redis.call('ZREM', KEYS[8], ARGV[5])
return out`,
  },
  // KEYS: room, ident, peers. ARGV: identity. {room hash (flat), participant JSON of the identity}.
  sigJoinRead: {
    keys: 3,
    lua: `
local p = redis.call('HGET', KEYS[2], ARGV[1])
local part = false
if p then part = redis.call('HGET', KEYS[3], p) end
return {redis.call('HGETALL', KEYS[1]), part}`,
  },
  // A new session stored and indexed, then the room's presence and producers, in one command.
  // KEYS: sess, nodeSess, peers, prod. ARGV: sid, then field/value pairs.
  sigSessionStart: {
    keys: 4,
    lua: `
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return {redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}`,
  },
  // KEYS: sess, grace, nodeSess(new). ARGV: sid, node. Returns {epoch, prevOwner, prevState} or nil.
  sigSessionClaim: {
    keys: 3,
    lua: `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'leaving' then return nil end
local prev = redis.call('HGET', KEYS[1], 'owner') or ''
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'state', 'connected')
redis.call('PERSIST', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return {epoch, prev, state}`,
  },
  // KEYS: sess, grace. ARGV: sid, epoch, deadline, ttlMs. Marks a session disconnected unless resumed.
  sigSessionRelease: {
    keys: 2,
    lua: `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'connected' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'disconnected')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`,
  },
  // KEYS: sess, grace. ARGV: sid, now, epoch ('' = any). Claims a session for cleanup.
  sigSessionClaimLeave: {
    keys: 2,
    lua: `
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if ARGV[3] == '' then
  if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[3] == '' then
  if redis.call('HGET', KEYS[1], 'state') ~= 'disconnected' then return 0 end
elseif ARGV[3] ~= '*' and redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[3] then
  return 0
end
if redis.call('HGET', KEYS[1], 'state') == 'leaving' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'leaving')
redis.call('PEXPIRE', KEYS[1], 60000)
return 1`,
  },
  // KEYS: peers, prod. Presence and producers of a room: {peers flat hash, producers flat hash}.
  sigSnapshot: {
    keys: 2,
    lua: `return {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}`,
  },
  // KEYS: empty, peers, room, rooms. ARGV: roomId, now, name. Claims an expired empty room.
  sigClaimEmpty: {
    keys: 4,
    lua: `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[4], ARGV[3])
return 1`,
  },
} as const;

type Cmd = (...args: Array<string | number>) => Promise<unknown>;

/** HSET field/value arguments of a new session. */
function sessionFields(s: SessionRecord): string[] {
  return [
    'tenant',
    s.tenant,
    'room',
    s.room,
    'roomId',
    s.roomId,
    'identity',
    s.identity,
    'peerId',
    s.peerId,
    'role',
    s.role,
    ...(s.displayName ? ['displayName', s.displayName] : []),
    'sfuNode',
    s.sfuNode,
    'owner',
    s.owner,
    'epoch',
    String(s.epoch),
    'state',
    s.state,
    'muted',
    '0',
    'createdAt',
    String(s.createdAt),
    'joinedAt',
    String(s.joinedAt),
    // Transports handed out with the join (`createTransports`): written here instead of one
    // write per `createTransport`.
    ...[...s.transports].flatMap(([id, direction]) => [`t:${id}`, direction]),
  ];
}

/** The JSON values of a flat HGETALL reply (`[field, value, field, value, ...]`). */
function flatValues<T>(flat: string[]): T[] {
  const out: T[] = [];
  for (let i = 1; i < flat.length; i += 2) out.push(JSON.parse(flat[i] as string) as T);
  return out;
}

function parseRoom(roomId: string, h: Record<string, string>): RoomRecord | undefined {
  if (!h['tenant'] || !h['name']) return undefined;
  return {
    roomId,
    tenant: h['tenant'],
    name: h['name'],
    options: JSON.parse(h['options'] ?? '{}') as RoomRecord['options'],
    createdAt: Number(h['createdAt'] ?? 0),
    ...(h['sfuNode'] ? { sfuNode: h['sfuNode'] } : {}),
  };
}

function parseSession(sessionId: string, h: Record<string, string>): SessionRecord | undefined {
  if (!h['peerId'] || !h['roomId']) return undefined;
  const transports = new Map<string, 'send' | 'recv'>();
  const producers = new Map<string, string>();
  const consumers = new Map<string, string>();
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('t:')) transports.set(k.slice(2), v as 'send' | 'recv');
    else if (k.startsWith('p:')) producers.set(k.slice(2), v);
    else if (k.startsWith('c:')) consumers.set(k.slice(2), v);
  }
  return {
    sessionId,
    tenant: h['tenant'] ?? '',
    room: h['room'] ?? '',
    roomId: h['roomId'],
    identity: h['identity'] ?? '',
    peerId: h['peerId'],
    role: (h['role'] ?? 'member') as Role,
    ...(h['displayName'] ? { displayName: h['displayName'] } : {}),
    sfuNode: h['sfuNode'] ?? '',
    owner: h['owner'] ?? '',
    epoch: Number(h['epoch'] ?? 0),
    state: (h['state'] ?? 'connected') as SessionState,
    muted: h['muted'] === '1',
    mutedProducers: JSON.parse(h['mutedProducers'] ?? '[]') as string[],
    createdAt: Number(h['createdAt'] ?? 0),
    joinedAt: Number(h['joinedAt'] ?? 0),
    transports,
    producers,
    consumers,
  };
}

/** Redis state of signaling (see the table above). Every failure is `UNAVAILABLE`. */
@Injectable()
export class StateStore {
  private readonly redis: Redis;

  constructor(@Inject(RedisLink) link: RedisLink) {
    const redis = link.client;
    this.redis = redis;
    for (const [name, s] of Object.entries(SCRIPTS)) {
      redis.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
    }
  }

  private readonly cmds = new Map<keyof typeof SCRIPTS, Cmd>();

  private cmd(name: keyof typeof SCRIPTS): Cmd {
    let bound = this.cmds.get(name);
    if (!bound) {
      const fn = (this.redis as unknown as Record<string, Cmd>)[name] as Cmd;
      bound = fn.bind(this.redis);
      this.cmds.set(name, bound);
    }
    return bound;
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw storeError(err);
    }
  }

  /** Whether Redis is usable now. */
  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  // ---- rooms -----------------------------------------------------------------------------

  /** Creates a room; false when it already exists. */
  createRoom(r: RoomRecord): Promise<boolean> {
    return this.run(async () => {
      const created = await this.cmd('sigRoomCreate')(
        K.room(r.roomId),
        K.rooms(r.tenant),
        K.empty,
        r.tenant,
        r.name,
        JSON.stringify(r.options),
        r.createdAt,
        r.createdAt + r.options.emptyTimeoutS * 1000,
        r.roomId,
      );
      return created === 1;
    });
  }

  /** A room, if it exists. */
  getRoom(roomId: string): Promise<RoomRecord | undefined> {
    return this.run(async () => parseRoom(roomId, await this.redis.hgetall(K.room(roomId))));
  }

  /**
   * Records which SFU node hosts a room, only if `expected` is still the recorded one (two
   * signaling nodes placing the same room at once agree on one). Returns the recorded node.
   */
  claimRoomNode(roomId: string, expected: string | undefined, node: string): Promise<string> {
    return this.run(async () =>
      String(await this.cmd('sigRoomNode')(K.room(roomId), expected ?? '', node)),
    );
  }

  /** Room names of a tenant. */
  listRoomNames(tenant: string): Promise<string[]> {
    return this.run(async () => (await this.redis.smembers(K.rooms(tenant))).sort());
  }

  /** Deletes a room record (participants must have been removed first). */
  deleteRoom(r: { roomId: string; tenant: string; name: string }): Promise<boolean> {
    return this.run(async () => {
      const res = await this.redis
        .multi()
        .del(K.room(r.roomId))
        .srem(K.rooms(r.tenant), r.name)
        .zrem(K.empty, r.roomId)
        .del(K.prod(r.roomId))
        .exec();
      return Number(res?.[0]?.[1] ?? 0) === 1;
    });
  }

  /** Participants now (connected or in grace). */
  countParticipants(roomId: string): Promise<number> {
    return this.run(() => this.redis.hlen(K.peers(roomId)));
  }

  /** Participant counts of many rooms (one round trip). */
  countMany(roomIds: string[]): Promise<number[]> {
    return this.run(async () => {
      if (roomIds.length === 0) return [];
      const p = this.redis.pipeline();
      for (const id of roomIds) p.hlen(K.peers(id));
      const res = (await p.exec()) ?? [];
      return res.map(([, v]) => Number(v ?? 0));
    });
  }

  /** Rooms of many ids (one round trip). */
  getRooms(roomIds: string[]): Promise<Array<RoomRecord | undefined>> {
    return this.run(async () => {
      if (roomIds.length === 0) return [];
      const p = this.redis.pipeline();
      for (const id of roomIds) p.hgetall(K.room(id));
      const res = (await p.exec()) ?? [];
      return res.map(([, v], i) =>
        parseRoom(roomIds[i] as string, (v ?? {}) as Record<string, string>),
      );
    });
  }

  // ---- presence --------------------------------------------------------------------------

  /**
   * Admits a participant: `full` when the room is at its maximum, `gone` when the room was
   * deleted meanwhile. Atomic with the count.
   */
  admit(roomId: string, p: ParticipantRecord, max: number): Promise<'ok' | 'full' | 'gone'> {
    return this.run(async () => {
      const r = await this.cmd('sigAdmit')(
        K.room(roomId),
        K.peers(roomId),
        K.ident(roomId),
        K.empty,
        p.peerId,
        p.identity,
        JSON.stringify(p),
        max,
        roomId,
      );
      return r === 1 ? 'ok' : r === 0 ? 'full' : 'gone';
    });
  }

  /** Removes a participant and its producers; returns the producer ids and the remaining count. */
  removePeer(
    roomId: string,
    peerId: string,
    identity: string,
    emptyTimeoutS: number,
  ): Promise<{ wasPresent: boolean; remaining: number; producers: string[] }> {
    return this.run(async () => {
      const r = (await this.cmd('sigRemovePeer')(
        K.peers(roomId),
        K.ident(roomId),
        K.prod(roomId),
        K.empty,
        K.room(roomId),
        peerId,
        identity,
        roomId,
        Date.now() + emptyTimeoutS * 1000,
      )) as Array<number | string>;
      return {
        wasPresent: Number(r[0]) === 1,
        remaining: Number(r[1]),
        producers: r.slice(2).map(String),
      };
    });
  }

  /** {@link removePeer}, and its session deleted and unindexed, in one command. */
  removePeerAndSession(
    roomId: string,
    peerId: string,
    identity: string,
    emptyTimeoutS: number,
    sessionId: string,
    owner: string,
  ): Promise<{ wasPresent: boolean; remaining: number; producers: string[] }> {
    return this.run(async () => {
      const r = (await this.cmd('sigRemovePeerSession')(
        K.peers(roomId),
        K.ident(roomId),
        K.prod(roomId),
        K.empty,
        K.room(roomId),
        K.sess(sessionId),
        K.nodeSess(owner),
        K.grace,
        peerId,
        identity,
        roomId,
        Date.now() + emptyTimeoutS * 1000,
        sessionId,
      )) as Array<number | string>;
      return {
        wasPresent: Number(r[0]) === 1,
        remaining: Number(r[1]),
        producers: r.slice(2).map(String),
      };
    });
  }

  /** A room and the participant holding an identity in it, in one command (join). */
  joinRead(
    roomId: string,
    identity: string,
  ): Promise<{ room?: RoomRecord; existing?: ParticipantRecord }> {
    return this.run(async () => {
      const [flat, part] = (await this.cmd('sigJoinRead')(
        K.room(roomId),
        K.ident(roomId),
        K.peers(roomId),
        identity,
      )) as [string[], string | null];
      const h: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i] as string] = flat[i + 1] as string;
      const room = parseRoom(roomId, h);
      return {
        ...(room ? { room } : {}),
        ...(part ? { existing: JSON.parse(part) as ParticipantRecord } : {}),
      };
    });
  }

  /** Presence of a room. */
  participants(roomId: string): Promise<ParticipantRecord[]> {
    return this.run(async () =>
      Object.values(await this.redis.hgetall(K.peers(roomId))).map(
        (v) => JSON.parse(v) as ParticipantRecord,
      ),
    );
  }

  /** The participant holding an identity in a room (one round trip). */
  participantByIdentity(roomId: string, identity: string): Promise<ParticipantRecord | undefined> {
    return this.run(async () => {
      const v = (await this.cmd('sigByIdentity')(K.ident(roomId), K.peers(roomId), identity)) as
        string | null;
      return v ? (JSON.parse(v) as ParticipantRecord) : undefined;
    });
  }

  /** Presence and producers of a room in one command. */
  roomSnapshot(roomId: string): Promise<{ peers: ParticipantRecord[]; producers: ProducerInfo[] }> {
    return this.run(async () => {
      const [peers, producers] = (await this.cmd('sigSnapshot')(
        K.peers(roomId),
        K.prod(roomId),
      )) as [string[], string[]];
      return { peers: flatValues<ParticipantRecord>(peers), producers: flatValues(producers) };
    });
  }

  // ---- producers -------------------------------------------------------------------------

  /** Records a producer (idempotent). Returns true when it was not known yet. */
  putProducer(roomId: string, p: ProducerInfo): Promise<boolean> {
    return this.run(
      async () => (await this.redis.hset(K.prod(roomId), p.producerId, JSON.stringify(p))) === 1,
    );
  }

  /** Records a producer unless present (server-side producers seen through SFU events). */
  putProducerIfAbsent(roomId: string, p: ProducerInfo): Promise<boolean> {
    return this.run(
      async () => (await this.redis.hsetnx(K.prod(roomId), p.producerId, JSON.stringify(p))) === 1,
    );
  }

  /** Forgets a producer. */
  deleteProducer(roomId: string, producerId: string): Promise<void> {
    return this.run(async () => {
      await this.redis.hdel(K.prod(roomId), producerId);
    });
  }

  /** Forgets every producer of a room (the SFU reset it). */
  clearProducers(roomId: string): Promise<void> {
    return this.run(async () => {
      await this.redis.del(K.prod(roomId));
    });
  }

  /** Producers of a room. */
  producers(roomId: string): Promise<ProducerInfo[]> {
    return this.run(async () =>
      Object.values(await this.redis.hgetall(K.prod(roomId))).map(
        (v) => JSON.parse(v) as ProducerInfo,
      ),
    );
  }

  // ---- sessions --------------------------------------------------------------------------

  /** Stores a new session, indexes it under its node and returns its room's snapshot. */
  startSession(
    s: SessionRecord,
  ): Promise<{ peers: ParticipantRecord[]; producers: ProducerInfo[] }> {
    return this.run(async () => {
      const [peers, producers] = (await this.cmd('sigSessionStart')(
        K.sess(s.sessionId),
        K.nodeSess(s.owner),
        K.peers(s.roomId),
        K.prod(s.roomId),
        s.sessionId,
        ...sessionFields(s),
      )) as [string[], string[]];
      return { peers: flatValues<ParticipantRecord>(peers), producers: flatValues(producers) };
    });
  }

  /** A session, if it exists. */
  getSession(sessionId: string): Promise<SessionRecord | undefined> {
    return this.run(async () =>
      parseSession(sessionId, await this.redis.hgetall(K.sess(sessionId))),
    );
  }

  /** Sets fields of a session (entities: `t:<id>`, `p:<id>`, `c:<id>`; flags). */
  setSessionFields(sessionId: string, fields: Record<string, string>): Promise<void> {
    return this.run(async () => {
      await this.redis.hset(K.sess(sessionId), fields);
    });
  }

  /** Deletes fields of a session. */
  deleteSessionFields(sessionId: string, fields: string[]): Promise<void> {
    return this.run(async () => {
      if (fields.length) await this.redis.hdel(K.sess(sessionId), ...fields);
    });
  }

  /**
   * Claims a session for this node's new socket (resume). Returns undefined when it is gone or
   * being cleaned up; otherwise the new epoch and who held it before.
   */
  claimSession(
    sessionId: string,
    node: string,
  ): Promise<{ epoch: number; prevOwner: string; prevState: string } | undefined> {
    return this.run(async () => {
      const r = (await this.cmd('sigSessionClaim')(
        K.sess(sessionId),
        K.grace,
        K.nodeSess(node),
        sessionId,
        node,
      )) as [number, string, string] | null;
      if (!r) return undefined;
      return { epoch: Number(r[0]), prevOwner: String(r[1]), prevState: String(r[2]) };
    });
  }

  /** Marks a session disconnected (grace starts) unless it was resumed since `epoch`. */
  releaseSession(sessionId: string, epoch: number, graceS: number): Promise<boolean> {
    return this.run(async () => {
      const r = await this.cmd('sigSessionRelease')(
        K.sess(sessionId),
        K.grace,
        sessionId,
        String(epoch),
        Date.now() + graceS * 1000,
        graceS * 1000 + 120_000,
      );
      return r === 1;
    });
  }

  /**
   * Claims a session for cleanup: with `epoch`, only if not resumed since (`'*'`: any epoch);
   * without, only if its grace expired. Exactly one caller wins.
   */
  claimLeave(sessionId: string, epoch?: number | '*'): Promise<boolean> {
    return this.run(async () => {
      const r = await this.cmd('sigSessionClaimLeave')(
        K.sess(sessionId),
        K.grace,
        sessionId,
        Date.now(),
        epoch === undefined ? '' : String(epoch),
      );
      return r === 1;
    });
  }

  /** Removes a session from a node's index (it moved to another node). */
  unindexSession(sessionId: string, node: string): Promise<void> {
    return this.run(async () => {
      await this.redis.srem(K.nodeSess(node), sessionId);
    });
  }

  /** Sessions whose grace ended. */
  expiredGrace(now: number, limit = 100): Promise<string[]> {
    return this.run(() => this.redis.zrangebyscore(K.grace, '-inf', now, 'LIMIT', 0, limit));
  }

  // ---- empty rooms -----------------------------------------------------------------------

  /** Rooms whose empty timeout ended. */
  expiredEmptyRooms(now: number, limit = 100): Promise<string[]> {
    return this.run(() => this.redis.zrangebyscore(K.empty, '-inf', now, 'LIMIT', 0, limit));
  }

  /** Claims and deletes an expired empty room; false when someone joined or another node won. */
  claimEmptyRoom(roomId: string, now: number): Promise<boolean> {
    const scoped = parseScopedRoomId(roomId);
    if (!scoped) {
      return this.run(async () => {
        await this.redis.zrem(K.empty, roomId);
        return false;
      });
    }
    return this.run(async () => {
      const r = await this.cmd('sigClaimEmpty')(
        K.empty,
        K.peers(roomId),
        K.room(roomId),
        K.rooms(scoped.tenant),
        roomId,
        now,
        scoped.room,
      );
      return r === 1;
    });
  }

  // ---- signaling nodes -------------------------------------------------------------------

  /** Records this node's heartbeat. */
  heartbeat(node: string, now: number): Promise<void> {
    return this.run(async () => {
      await this.redis.zadd(K.nodes, now, node);
    });
  }

  /** Nodes silent since before `before`. */
  silentNodes(before: number): Promise<string[]> {
    return this.run(() => this.redis.zrangebyscore(K.nodes, '-inf', before, 'LIMIT', 0, 20));
  }

  /** Claims a silent node for recovery (exactly one node wins); returns its sessions. */
  claimNode(node: string): Promise<string[] | undefined> {
    return this.run(async () => {
      const removed = await this.redis.zrem(K.nodes, node);
      if (removed !== 1) return undefined;
      const sessions = await this.redis.smembers(K.nodeSess(node));
      await this.redis.del(K.nodeSess(node));
      return sessions;
    });
  }

  /** Removes this node from the heartbeat set (graceful stop). */
  forgetNode(node: string): Promise<void> {
    return this.run(async () => {
      await this.redis.zrem(K.nodes, node);
    });
  }

  /** Throws ROOM_NOT_FOUND unless the room exists. */
  async requireRoom(roomId: string, name: string): Promise<RoomRecord> {
    const r = await this.getRoom(roomId);
    if (!r) throw new SignalingError('ROOM_NOT_FOUND', `room ${name} does not exist`);
    return r;
  }
}
