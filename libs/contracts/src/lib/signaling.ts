import { z } from 'zod';
import { defineEvent } from './contract';
import { registerContracts } from './registry';
import { ActiveSpeakerEvent, EntityId, MediaKind, PeerId, RoomId } from './sfu';

/**
 * Signaling's public vocabulary: tenants, identities, roles and grants, the REST DTOs of `/v1`,
 * the signaling error codes, and the NATS events signaling nodes exchange among themselves.
 * The WebSocket protocol lives in `ws-protocol.ts`.
 */

/** Tenant ids: lowercase, no `-` (room ids are `<tenant>--<room>`, split at the first `--`). */
export const TenantId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_]{0,31}$/, 'tenant ids are 1-32 of [a-z0-9_], starting alphanumeric');
/** A tenant id. */
export type TenantId = z.infer<typeof TenantId>;

/** Room names as tenants see them (unique within a tenant). */
export const RoomName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/,
    'room names are 1-64 of [A-Za-z0-9_-], starting alphanumeric',
  );
/** A room name. */
export type RoomName = z.infer<typeof RoomName>;

/** Participant identity chosen by the tenant back end (user id, e-mail, ...). */
export const Identity = z
  .string()
  .regex(/^[A-Za-z0-9_.@:+=-]{1,128}$/, 'identities are 1-128 of [A-Za-z0-9_.@:+=-]');
/** A participant identity. */
export type Identity = z.infer<typeof Identity>;

/** Human-readable name shown to other participants. */
export const DisplayName = z.string().trim().min(1).max(64);

/** The tenant-scoped room id every internal API uses: `<tenant>--<room>`. */
export function scopedRoomId(tenant: string, room: string): string {
  return `${tenant}--${room}`;
}

/** Splits a scoped room id back into tenant and room name (undefined when it is not one). */
export function parseScopedRoomId(roomId: string): { tenant: string; room: string } | undefined {
  const i = roomId.indexOf('--');
  if (i <= 0) return undefined;
  const tenant = roomId.slice(0, i);
  const room = roomId.slice(i + 2);
  if (!TenantId.safeParse(tenant).success || !RoomName.safeParse(room).success) return undefined;
  return { tenant, room };
}

/** Roles: `admin` moderates, `member` talks and listens, `listener` only listens. */
export const ROLES = ['admin', 'member', 'listener'] as const;
/** Participant role. */
export const Role = z.enum(ROLES);
/** Participant role. */
export type Role = z.infer<typeof Role>;

/** What a token allows (LiveKit-style grants). */
export const Grants = z
  .object({
    /** May join the token's room over the WebSocket. */
    join: z.boolean(),
    /** May create a send transport and produce media. */
    publish: z.boolean(),
    /** May create a receive transport and consume media. */
    subscribe: z.boolean(),
    /** May list, remove and mute participants of the token's room. */
    admin: z.boolean(),
  })
  .strict();
/** What a token allows. */
export type Grants = z.infer<typeof Grants>;

/** Grants each role gets unless the token narrows them. */
export const DEFAULT_GRANTS: Record<Role, Grants> = {
  admin: { join: true, publish: true, subscribe: true, admin: true },
  member: { join: true, publish: true, subscribe: true, admin: false },
  listener: { join: true, publish: false, subscribe: true, admin: false },
};

/** BCP-47-ish language tag for transcription, or `auto` to detect. */
export const Language = z
  .string()
  .regex(/^(auto|[a-z]{2,3}(-[A-Za-z0-9]{2,8})*)$/, 'expected `auto` or a language tag like `en`');
/** Piper voice name. */
export const VoiceName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'voice names are 1-64 of [A-Za-z0-9_.-]');

/** Options of a room (REST create, or the defaults when a join creates the room). */
export const RoomOptions = z
  .object({
    /** Most participants in the room at once (joins beyond get `ROOM_FULL`). */
    maxParticipants: z.number().int().min(1).max(10_000).optional(),
    /** Transcribe every speaker live (transcript notifications). */
    transcription: z.boolean().optional(),
    /** Transcription language (`auto` detects). */
    language: Language.optional(),
    /** Voice for speech into the room. */
    ttsVoice: VoiceName.optional(),
    /** Seconds the room lives on while empty (also when nobody ever joins). */
    emptyTimeoutS: z.number().int().min(0).max(86_400).optional(),
    /** Demo agent: `echo` answers each final transcript with speech ("You said …"). */
    agent: z.enum(['none', 'echo']).optional(),
    /** Stop speech into the room when a participant starts speaking (default true). */
    bargeIn: z.boolean().optional(),
  })
  .strict();
/** Options of a room. */
export type RoomOptions = z.infer<typeof RoomOptions>;

/** `POST /v1/rooms` body. */
export const CreateRoomRequest = RoomOptions.extend({ name: RoomName }).strict();
/** `POST /v1/rooms` body. */
export type CreateRoomRequest = z.infer<typeof CreateRoomRequest>;

/** A room as the REST API shows it (options resolved to their effective values). */
export const RoomView = z.object({
  /** Room name (unique within the tenant). */
  name: RoomName,
  maxParticipants: z.number().int(),
  transcription: z.boolean(),
  language: Language,
  ttsVoice: VoiceName.optional(),
  emptyTimeoutS: z.number().int(),
  /** Creation time (ms since epoch). */
  createdAt: z.number().int(),
  /** Participants now (connected or within their reconnect grace). */
  participants: z.number().int().nonnegative(),
});
/** A room as the REST API shows it. */
export type RoomView = z.infer<typeof RoomView>;

/** `GET /v1/rooms` response. */
export const ListRoomsResponse = z.object({ rooms: z.array(RoomView) });
/** `GET /v1/rooms` response. */
export type ListRoomsResponse = z.infer<typeof ListRoomsResponse>;

/** Connection state of a participant. */
export const PresenceState = z.enum(['connected', 'reconnecting']);

/** A participant as the REST API shows it. */
export const ParticipantView = z.object({
  identity: Identity,
  peerId: PeerId,
  displayName: z.string().optional(),
  role: Role,
  state: PresenceState,
  /** Muted by an admin (cannot resume its producers until unmuted). */
  muted: z.boolean(),
  joinedAt: z.number().int(),
  producers: z.array(z.object({ producerId: EntityId, kind: MediaKind, paused: z.boolean() })),
});
/** A participant as the REST API shows it. */
export type ParticipantView = z.infer<typeof ParticipantView>;

/** `GET /v1/rooms/{room}/participants` response. */
export const ListParticipantsResponse = z.object({ participants: z.array(ParticipantView) });
/** `GET /v1/rooms/{room}/participants` response. */
export type ListParticipantsResponse = z.infer<typeof ListParticipantsResponse>;

/** `POST /v1/rooms/{room}/participants/{identity}/mute` body. */
export const MuteParticipantRequest = z
  .object({
    /** true mutes (pauses every audio producer, resuming is refused), false lifts it. */
    muted: z.boolean(),
  })
  .strict();
/** Mute request body. */
export type MuteParticipantRequest = z.infer<typeof MuteParticipantRequest>;

/** Mute response. */
export const MuteParticipantResponse = z.object({
  identity: Identity,
  muted: z.boolean(),
  /** Producers paused (mute) or resumed (unmute). */
  producers: z.array(EntityId),
});
/** Mute response. */
export type MuteParticipantResponse = z.infer<typeof MuteParticipantResponse>;

/** `POST /v1/tokens` body (caller authenticates with its API key and secret). */
export const CreateTokenRequest = z
  .object({
    /** Participant identity (token subject). */
    identity: Identity,
    /** Room the token is for. */
    room: RoomName,
    /** Role; grants default from it. */
    role: Role.default('member'),
    /** Narrower grants than the role's defaults (a grant the role lacks cannot be added). */
    grants: Grants.partial().optional(),
    /** Display name carried in the token. */
    name: DisplayName.optional(),
    /** Lifetime in seconds (bounded by the server's maximum). */
    ttlS: z
      .number()
      .int()
      .min(10)
      .max(7 * 86_400)
      .optional(),
    /** Not valid before this many seconds from now (default 0). */
    notBeforeS: z.number().int().min(0).max(86_400).optional(),
  })
  .strict();
/** `POST /v1/tokens` body. */
export type CreateTokenRequest = z.input<typeof CreateTokenRequest>;

/** `POST /v1/tokens` response. */
export const CreateTokenResponse = z.object({
  /** The JWT to pass as `/v1/ws?token=`. */
  token: z.string(),
  identity: Identity,
  room: RoomName,
  role: Role,
  grants: Grants,
  /** Expiry (ms since epoch). */
  expiresAt: z.number().int(),
  /** WebSocket URL to connect to (without the token). */
  wsUrl: z.string(),
});
/** `POST /v1/tokens` response. */
export type CreateTokenResponse = z.infer<typeof CreateTokenResponse>;

/** `DELETE` responses. */
export const DeletedResponse = z.object({ deleted: z.boolean() });

/**
 * Error codes of signaling besides the common ones. Token problems are precise so a client can
 * tell "refresh your token" from "you are not allowed".
 */
export const SIGNALING_ERROR_CODES = [
  'TOKEN_MISSING',
  'TOKEN_MALFORMED',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_BAD_SIGNATURE',
  'TOKEN_UNKNOWN_KEY',
  'TOKEN_WRONG_TENANT',
  'TOKEN_INVALID_CLAIMS',
  'UNKNOWN_METHOD',
  'NOT_JOINED',
  'ALREADY_JOINED',
  'ROOM_FULL',
  'ROOM_NOT_FOUND',
  'PARTICIPANT_NOT_FOUND',
  'MUTED',
  'SFU_UNAVAILABLE',
  'ROOM_NOT_LIVE',
] as const;
/** A signaling-specific error code. */
export type SignalingErrorCode = (typeof SIGNALING_ERROR_CODES)[number];

/** HTTP status of each signaling code. */
export const SIGNALING_HTTP_STATUS: Record<SignalingErrorCode, number> = {
  TOKEN_MISSING: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_NOT_YET_VALID: 401,
  TOKEN_BAD_SIGNATURE: 401,
  TOKEN_UNKNOWN_KEY: 401,
  TOKEN_WRONG_TENANT: 401,
  TOKEN_INVALID_CLAIMS: 401,
  UNKNOWN_METHOD: 400,
  NOT_JOINED: 409,
  ALREADY_JOINED: 409,
  ROOM_FULL: 409,
  ROOM_NOT_FOUND: 404,
  PARTICIPANT_NOT_FOUND: 404,
  MUTED: 403,
  SFU_UNAVAILABLE: 503,
  ROOM_NOT_LIVE: 409,
};

// ---------------------------------------------------------------------------------------------
// Between signaling nodes (NATS). A room's participants may be spread over several signaling
// replicas: what one node learns about a room it tells the others on `signaling.room.event.<roomId>`;
// what must happen to one socket is sent to the node holding it on `signaling.peer.command.<nodeId>`.

/** A participant as other participants see it. */
export const PeerInfo = z.object({
  peerId: PeerId,
  identity: Identity,
  displayName: z.string().optional(),
  role: Role,
});
/** A participant as other participants see it. */
export type PeerInfo = z.infer<typeof PeerInfo>;

/** A producer as participants see it. */
export const ProducerInfo = z.object({
  producerId: EntityId,
  /** Owner (`agent` or another non-participant id for server-side playback). */
  peerId: z.string(),
  kind: MediaKind,
  paused: z.boolean(),
});
/** A producer as participants see it. */
export type ProducerInfo = z.infer<typeof ProducerInfo>;

/** Why a participant left. */
export const LeaveReason = z.enum(['left', 'disconnected', 'removed', 'replaced', 'room_deleted']);
/** Why a participant left. */
export type LeaveReason = z.infer<typeof LeaveReason>;

/** A change in a room, fanned out to every signaling node serving it. */
export const RoomChangedEvent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('peerJoined'), roomId: RoomId, peer: PeerInfo }),
  z.object({
    kind: z.literal('peerLeft'),
    roomId: RoomId,
    peerId: PeerId,
    reason: LeaveReason,
  }),
  z.object({ kind: z.literal('producerOpened'), roomId: RoomId, producer: ProducerInfo }),
  z.object({
    kind: z.literal('producerClosed'),
    roomId: RoomId,
    producerId: EntityId,
    peerId: z.string(),
  }),
  z.object({
    kind: z.literal('producerPaused'),
    roomId: RoomId,
    producerId: EntityId,
    peerId: z.string(),
    paused: z.boolean(),
  }),
  z.object({ kind: z.literal('speaker'), roomId: RoomId, speaker: ActiveSpeakerEvent }),
]);
/** A change in a room. */
export type RoomChangedEvent = z.infer<typeof RoomChangedEvent>;

/** Something the node holding a participant's socket must do. */
export const PeerCommandEvent = z.object({
  roomId: RoomId,
  peerId: PeerId,
  /** Session the command is about (a resumed session on another node ignores stale commands). */
  sessionId: z.string().max(64),
  command: z.enum(['remove', 'mute', 'unmute', 'supersede']),
  /** Why (shown to the participant). */
  reason: LeaveReason.optional(),
  /** mute/unmute: the producers paused or resumed. */
  producers: z.array(EntityId).max(64).optional(),
});
/** Something the node holding a participant's socket must do. */
export type PeerCommandEvent = z.infer<typeof PeerCommandEvent>;

/** NATS events between signaling nodes. */
export const signalingEvents = {
  roomChanged: defineEvent({
    subject: 'signaling.room.changed',
    payload: RoomChangedEvent,
    description: 'A participant or producer changed in a room (.<roomId>).',
  }),
  peerCommand: defineEvent({
    subject: 'signaling.peer.command',
    payload: PeerCommandEvent,
    description:
      'Remove, mute or supersede a participant socket on the node holding it (.<nodeId>).',
  }),
} as const;

registerContracts(...Object.values(signalingEvents));
