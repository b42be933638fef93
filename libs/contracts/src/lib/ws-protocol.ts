import { z } from 'zod';
import { ErrorBody } from './errors';
import {
  DisplayName,
  Grants,
  Identity,
  Language,
  LeaveReason,
  PeerInfo,
  ProducerInfo,
  Role,
  RoomName,
  VoiceName,
} from './signaling';
import { DtlsParameters, EntityId, MediaKind, PeerId, RtpCapabilities, RtpParameters } from './sfu';

/**
 * The WebSocket protocol of `/v1/ws?token=…`, mediasoup-demo style: the client sends requests
 * with ids and gets exactly one response per id (data or `{code,message}` error) within a
 * deadline; the server pushes notifications. Every frame is one JSON object; every envelope may
 * carry `meta` with W3C `traceparent`/`tracestate` and `x-correlation-id`.
 *
 * `docs/protocol.md` documents every message with an example; a unit test keeps it in step.
 */

/** Largest accepted text frame; bigger frames get a `PAYLOAD_TOO_LARGE` error response. */
export const WS_MAX_FRAME_BYTES = 64 * 1024;

/** Close codes the server uses (4000-4999 are application codes). */
export const WS_CLOSE = {
  /** The client sent `leave`, or closed itself. */
  normal: 1000,
  /** Frame beyond the hard limit of the socket layer (far above {@link WS_MAX_FRAME_BYTES}). */
  tooBig: 1009,
  /** Server shutting down: reconnect (with the session id) after a moment. */
  serviceRestart: 1012,
  /** Token missing, malformed, expired, not yet valid, badly signed or for another tenant. */
  unauthorized: 4001,
  /** Removed by an admin, room deleted, or the identity joined elsewhere. Do not reconnect. */
  removed: 4003,
  /** The connection kept sending bad frames. */
  policy: 4008,
  /** The same session was resumed on another connection. */
  superseded: 4009,
} as const;

/** Envelope metadata: trace context and correlation id (all optional, bounded). */
export const WsMeta = z.object({
  traceparent: z.string().max(128).optional(),
  tracestate: z.string().max(512).optional(),
  'x-correlation-id': z.string().max(128).optional(),
});
/** Envelope metadata. */
export type WsMeta = z.infer<typeof WsMeta>;

/** Request ids: chosen by the client, echoed in the response. */
export const WsRequestId = z.union([
  z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  z.string().min(1).max(64),
]);
/** A request id. */
export type WsRequestId = z.infer<typeof WsRequestId>;

// ---------------------------------------------------------------------------------------------
// Requests: per method the schema of `data` and of the successful response.

const Empty = z.object({}).strict();
const Ok = z.object({});

/** Transport direction: `send` publishes, `recv` subscribes. */
export const TransportDirection = z.enum(['send', 'recv']);

/** A transport restored by a resumed join, with the ICE parameters of its ICE restart. */
export const ResumedTransport = z.object({
  transportId: EntityId,
  direction: TransportDirection,
  iceParameters: z.looseObject({}),
});

/** `createTransport` response: parameters for `device.createSendTransport/createRecvTransport`. */
export const CreateTransportResult = z.object({
  transportId: EntityId,
  direction: TransportDirection,
  iceParameters: z.looseObject({}),
  iceCandidates: z.array(z.looseObject({})),
  dtlsParameters: z.looseObject({}),
});

/** `join` data. */
export const JoinData = z
  .object({
    /** Name shown to others (default: the token's name, else the identity). */
    displayName: DisplayName.optional(),
    /** Session id of an earlier `join` to resume within the reconnect grace period. */
    sessionId: z.string().min(1).max(64).optional(),
    /**
     * Also create the transports your grants allow (`send` with `publish`, `recv` with
     * `subscribe`) and return them in `createdTransports`: a `createTransport` round trip fewer
     * each. Ignored when the session is resumed (its transports are in `transports`).
     */
    createTransports: z.boolean().optional(),
  })
  .strict();

/** `join` response. */
export const JoinResult = z.object({
  /** Keep it: `join` with it after a dropped connection to get the same peer back. */
  sessionId: z.string(),
  /** Your peer id in the room. */
  peerId: PeerId,
  room: RoomName,
  identity: Identity,
  role: Role,
  grants: Grants,
  /** True when `sessionId` was resumed: same peer, transports restarted (see `transports`). */
  resumed: z.boolean(),
  /** Load the mediasoup-client Device with these. */
  routerRtpCapabilities: RtpCapabilities,
  /** The other participants. */
  peers: z.array(PeerInfo),
  /** The other participants' (and server-side) producers you may consume. */
  producers: z.array(ProducerInfo),
  /** Resumed only: your transports, each with new ICE parameters (call `transport.restartIce`). */
  transports: z.array(ResumedTransport),
  /** Resumed only: your own producers that are still alive. */
  ownProducers: z.array(ProducerInfo),
  /** With `createTransports` (fresh joins): your new transports, as `createTransport` answers. */
  createdTransports: z.array(CreateTransportResult).optional(),
  /** Room settings relevant to the client. */
  roomOptions: z.object({
    transcription: z.boolean(),
    language: Language,
    ttsVoice: VoiceName.optional(),
  }),
  /** Seconds a dropped connection can be resumed with `sessionId`. */
  reconnectGraceS: z.number().int().nonnegative(),
  /** When the connection's token expires (ms since epoch); `tokenRefreshed` sends a new one before. */
  tokenExpiresAt: z.number().int(),
});

/** `createTransport` data. */
export const CreateTransportData = z.object({ direction: TransportDirection }).strict();

/** `connectTransport` data. */
export const ConnectTransportData = z
  .object({ transportId: EntityId, dtlsParameters: DtlsParameters })
  .strict();

/** `produce` data. */
export const ProduceData = z
  .object({
    transportId: EntityId,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    /** Start paused (muted). */
    paused: z.boolean().optional(),
  })
  .strict();
/** `produce` response. */
export const ProduceResult = z.object({ producerId: EntityId });

/** `consume` data. */
export const ConsumeData = z
  .object({
    transportId: EntityId,
    producerId: EntityId,
    /** `device.rtpCapabilities` of the client. */
    rtpCapabilities: RtpCapabilities,
  })
  .strict();
/** `consume` response: parameters for `transport.consume`; the consumer starts paused. */
export const ConsumeResult = z.object({
  consumerId: EntityId,
  producerId: EntityId,
  peerId: z.string(),
  kind: MediaKind,
  rtpParameters: z.looseObject({}),
  type: z.string(),
  producerPaused: z.boolean(),
});

/** Data naming one consumer. */
export const ConsumerRef = z.object({ consumerId: EntityId }).strict();
/** Data naming one producer. */
export const ProducerRef = z.object({ producerId: EntityId }).strict();
/** Data naming one transport. */
export const TransportRef = z.object({ transportId: EntityId }).strict();
/** `restartIce` response. */
export const RestartIceResult = z.object({ iceParameters: z.looseObject({}) });

/** `ping` data. */
export const PingData = z.object({ t: z.number().finite().optional() }).strict();
/** `ping` response. */
export const PingResult = z.object({
  /** Echo of `t`. */
  t: z.number().optional(),
  /** Server clock (ms since epoch). */
  serverTime: z.number(),
});

/** `say` data: speak text into the room through the server-side agent participant. */
export const SayData = z
  .object({
    text: z.string().trim().min(1, 'nothing to say').max(5000),
    /** Piper voice (default: the room's). */
    voice: z.string().min(1).max(128).optional(),
    /** Stop what is playing first (default: queue behind it). */
    interrupt: z.boolean().optional(),
  })
  .strict();
/** `say` response: accepted; `ttsStarted`/`ttsEnded` notifications follow with the same id. */
export const SayResult = z.object({
  requestId: z.string(),
  /** The agent producer carrying the speech. */
  producerId: z.string(),
  /** Speech requests ahead of this one. */
  queued: z.number().int().nonnegative(),
});
/** `stopSpeech` data: stop one speech request (by id) or all of the room's. */
export const StopSpeechData = z
  .object({ requestId: z.string().min(1).max(128).optional() })
  .strict();
/** `stopSpeech` response. */
export const StopSpeechResult = z.object({ stopped: z.number().int().nonnegative() });

/** One request method: schema of its data and of its response. */
export interface WsRequestDef<D extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  data: D;
  response: R;
  /** What it does (rendered in docs). */
  description: string;
}

function req<D extends z.ZodType, R extends z.ZodType>(
  data: D,
  response: R,
  description: string,
): WsRequestDef<D, R> {
  return { data, response, description };
}

/** Every request method of the protocol. */
export const wsRequests = {
  join: req(
    JoinData,
    JoinResult,
    'Join the token’s room (or resume a session). Must be the first request.',
  ),
  createTransport: req(
    CreateTransportData,
    CreateTransportResult,
    'Create a WebRTC transport: `send` needs the publish grant, `recv` the subscribe grant.',
  ),
  connectTransport: req(
    ConnectTransportData,
    Ok,
    'Give a transport the client DTLS parameters (mediasoup-client `connect` event).',
  ),
  produce: req(
    ProduceData,
    ProduceResult,
    'Publish a track on the send transport (not for listeners; refused while muted by an admin unless paused).',
  ),
  consume: req(
    ConsumeData,
    ConsumeResult,
    'Consume a producer on the recv transport; the consumer starts paused.',
  ),
  resumeConsumer: req(ConsumerRef, Ok, 'Resume a consumer once the client track is ready.'),
  pauseProducer: req(ProducerRef, Ok, 'Pause (mute) one of your producers.'),
  resumeProducer: req(
    ProducerRef,
    Ok,
    'Resume one of your producers (refused with `MUTED` while an admin muted you).',
  ),
  closeProducer: req(ProducerRef, Ok, 'Close one of your producers.'),
  restartIce: req(TransportRef, RestartIceResult, 'Restart ICE on one of your transports.'),
  leave: req(Empty, Ok, 'Leave the room; the server then closes the socket with 1000.'),
  ping: req(PingData, PingResult, 'Liveness and clock check; allowed before `join`.'),
  say: req(
    SayData,
    SayResult,
    'Speak text into the room (publish grant): the agent participant plays it; `ttsStarted`/`ttsEnded` follow.',
  ),
  stopSpeech: req(
    StopSpeechData,
    StopSpeechResult,
    'Stop speech into the room: your own requests, or any with the admin grant.',
  ),
} as const;

/** A request method name. */
export type WsMethod = keyof typeof wsRequests;
/** Request method names, in protocol order. */
export const WS_METHODS = Object.keys(wsRequests) as WsMethod[];
/** Data type of a request. */
export type WsRequestData<M extends WsMethod> = z.input<(typeof wsRequests)[M]['data']>;
/** Response data type of a request. */
export type WsResponseData<M extends WsMethod> = z.infer<(typeof wsRequests)[M]['response']>;

// ---------------------------------------------------------------------------------------------
// Notifications (server -> client).

/** Why the client must reconnect. */
export const ReconnectReason = z.enum(['shutdown', 'sfu_reset', 'transport_failed']);

/** Transcript segment (issue: live transcription fills these). */
export const TranscriptSegment = z.looseObject({
  /** One id per utterance; partials and the final share it. */
  utteranceId: z.string(),
  /** Speaker. */
  peerId: z.string(),
  identity: z.string().optional(),
  text: z.string(),
  language: z.string().optional(),
  /** Offsets from the start of the utterance stream (ms). */
  startMs: z.number(),
  endMs: z.number().optional(),
  /**
   * Finals only, when the SFU tap announced the utterance: wall clock (ms since the epoch, server
   * clock) of its last speech sample — `ping`'s `serverTime` gives the clock offset.
   */
  speechEndedAt: z.number().optional(),
});

/** Speech into the room (issue: TTS fills these). */
export const TtsEvent = z.looseObject({
  /** One id per speech request. */
  requestId: z.string(),
  /** Server-side producer carrying the speech (consume it like any producer). */
  producerId: z.string().optional(),
  voice: z.string().optional(),
  text: z.string().optional(),
});

function note<D extends z.ZodType>(data: D, description: string) {
  return { data, description };
}

/** Every notification of the protocol. */
export const wsNotifications = {
  peerJoined: note(z.object({ peer: PeerInfo }), 'Another participant joined (upsert by peerId).'),
  peerLeft: note(
    z.object({ peerId: PeerId, reason: LeaveReason }),
    'A participant left; close your consumers of its producers.',
  ),
  newProducer: note(ProducerInfo, 'A producer you may consume appeared.'),
  producerClosed: note(
    z.object({ producerId: EntityId, peerId: z.string() }),
    'A producer closed; its consumers are gone.',
  ),
  producerPaused: note(
    z.object({ producerId: EntityId, peerId: z.string(), paused: z.boolean() }),
    'A producer was paused or resumed.',
  ),
  activeSpeaker: note(
    z.object({
      peerId: z.string().nullable(),
      volumes: z.array(z.object({ peerId: z.string(), dBov: z.number() })),
    }),
    'Loudest participant changed (null: silence).',
  ),
  muted: note(
    z.object({ muted: z.boolean(), producers: z.array(EntityId) }),
    'An admin muted or unmuted you; your audio producers were paused/resumed.',
  ),
  removed: note(
    z.object({ reason: LeaveReason }),
    'You were removed; the socket closes with 4003. Do not reconnect.',
  ),
  reconnectRequired: note(
    z.object({
      reason: ReconnectReason,
      /** Restart ICE on this transport only; absent: reconnect and `join` with your session id. */
      transportId: EntityId.optional(),
      /** Wait this long before reconnecting. */
      retryAfterMs: z.number().int().nonnegative().optional(),
    }),
    'Reconnect (whole session, or ICE of one transport).',
  ),
  tokenRefreshed: note(
    z.object({ token: z.string(), expiresAt: z.number().int() }),
    'A fresh token for reconnecting; replace the old one.',
  ),
  transcriptPartial: note(TranscriptSegment, 'Live transcript, still changing.'),
  transcriptFinal: note(TranscriptSegment, 'Final transcript of an utterance.'),
  ttsStarted: note(TtsEvent, 'Speech into the room started.'),
  ttsEnded: note(
    TtsEvent.extend({ reason: z.enum(['done', 'cancelled', 'barge_in', 'error']).optional() }),
    'Speech into the room ended.',
  ),
} as const;

/** A notification method name. */
export type WsNotificationMethod = keyof typeof wsNotifications;
/** Notification method names. */
export const WS_NOTIFICATION_METHODS = Object.keys(wsNotifications) as WsNotificationMethod[];
/** Data type of a notification. */
export type WsNotificationData<N extends WsNotificationMethod> = z.infer<
  (typeof wsNotifications)[N]['data']
>;

// ---------------------------------------------------------------------------------------------
// Envelopes.

/** Any request frame before its method is known (used to recover the id for the error). */
export const WsRequestEnvelope = z
  .object({
    type: z.literal('request'),
    id: WsRequestId,
    method: z.string().min(1).max(64),
    data: z.unknown().optional(),
    meta: WsMeta.optional(),
  })
  .strict();

/** A typed request frame. */
export type WsRequest = {
  [M in WsMethod]: {
    type: 'request';
    id: WsRequestId;
    method: M;
    data: z.infer<(typeof wsRequests)[M]['data']>;
    meta?: WsMeta;
  };
}[WsMethod];

/** Discriminated union of every request frame (`method` discriminates). */
export const WsRequestSchema = z.discriminatedUnion(
  'method',
  WS_METHODS.map((m) =>
    z
      .object({
        type: z.literal('request'),
        id: WsRequestId,
        method: z.literal(m),
        data: wsRequests[m].data,
        meta: WsMeta.optional(),
      })
      .strict(),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);

/** A successful response frame. */
export interface WsOkResponse<M extends WsMethod = WsMethod> {
  type: 'response';
  id: WsRequestId;
  ok: true;
  data: WsResponseData<M>;
  meta?: WsMeta;
}
/** An error response frame (`id` is null when the frame had no readable id). */
export interface WsErrorResponse {
  type: 'response';
  id: WsRequestId | null;
  ok: false;
  error: ErrorBody;
  meta?: WsMeta;
}
/** A response frame. */
export type WsResponse = WsOkResponse | WsErrorResponse;

/** A typed notification frame. */
export type WsNotification = {
  [N in WsNotificationMethod]: {
    type: 'notification';
    method: N;
    data: WsNotificationData<N>;
    meta?: WsMeta;
  };
}[WsNotificationMethod];

/** Any frame the server sends. */
export type WsServerMessage = WsResponse | WsNotification;

/** Envelope schema of server frames (data is validated per method by {@link parseServerMessage}). */
export const WsServerEnvelope = z.union([
  z.object({
    type: z.literal('response'),
    id: WsRequestId.nullable(),
    ok: z.literal(true),
    data: z.unknown(),
    meta: WsMeta.optional(),
  }),
  z.object({
    type: z.literal('response'),
    id: WsRequestId.nullable(),
    ok: z.literal(false),
    error: ErrorBody,
    meta: WsMeta.optional(),
  }),
  z.object({
    type: z.literal('notification'),
    method: z.string(),
    data: z.unknown(),
    meta: WsMeta.optional(),
  }),
]);

/** Outcome of parsing a client frame. */
export type ParsedClientFrame =
  { ok: true; request: WsRequest } | { ok: false; id: WsRequestId | null; error: ErrorBody };

function issuesText(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ')
    .slice(0, 500);
}

/**
 * Parses one client text frame into a typed request, or says precisely what is wrong with it
 * (keeping the request id whenever one is readable, so the error is a response to that id).
 * Never throws.
 */
export function parseClientFrame(text: string): ParsedClientFrame {
  if (text.length > WS_MAX_FRAME_BYTES) {
    return {
      ok: false,
      id: null,
      error: {
        code: 'PAYLOAD_TOO_LARGE',
        message: `frames are limited to ${WS_MAX_FRAME_BYTES} bytes`,
      },
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, id: null, error: { code: 'BAD_REQUEST', message: 'frame is not JSON' } };
  }
  const id = readableId(raw);
  const env = WsRequestEnvelope.safeParse(raw);
  if (!env.success) {
    return {
      ok: false,
      id,
      error: {
        code: 'BAD_REQUEST',
        message: `not a request envelope: ${issuesText(env.error.issues)}`,
      },
    };
  }
  const method = env.data.method;
  const def = Object.hasOwn(wsRequests, method) ? wsRequests[method as WsMethod] : undefined;
  if (!def) {
    return {
      ok: false,
      id: env.data.id,
      error: { code: 'UNKNOWN_METHOD', message: `unknown method ${JSON.stringify(method)}` },
    };
  }
  const data = def.data.safeParse(env.data.data ?? {});
  if (!data.success) {
    return {
      ok: false,
      id: env.data.id,
      error: {
        code: 'BAD_REQUEST',
        message: `invalid ${method} data: ${issuesText(data.error.issues)}`,
        details: data.error.issues.slice(0, 10).map((i) => ({
          path: i.path.map(String),
          message: i.message,
        })),
      },
    };
  }
  return {
    ok: true,
    request: {
      type: 'request',
      id: env.data.id,
      method: method as WsMethod,
      data: data.data,
      ...(env.data.meta ? { meta: env.data.meta } : {}),
    } as WsRequest,
  };
}

function readableId(raw: unknown): WsRequestId | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const r = WsRequestId.safeParse((raw as { id?: unknown }).id);
  return r.success ? r.data : null;
}

/**
 * Parses one server frame (client side). With `validateData`, response data is not checked (the
 * client knows the method by id) but notification data is checked against its schema.
 */
export function parseServerMessage(
  text: string,
  opts: { validateData?: boolean } = {},
): WsServerMessage | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  const env = WsServerEnvelope.safeParse(raw);
  if (!env.success) return undefined;
  const msg = env.data;
  if (msg.type === 'notification') {
    const def = Object.hasOwn(wsNotifications, msg.method)
      ? wsNotifications[msg.method as WsNotificationMethod]
      : undefined;
    if (!def) return undefined;
    if (opts.validateData && !def.data.safeParse(msg.data).success) return undefined;
  }
  return msg as WsServerMessage;
}
