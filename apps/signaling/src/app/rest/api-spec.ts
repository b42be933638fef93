import {
  CreateRoomRequest,
  CreateTokenRequest,
  CreateTokenResponse,
  DeletedResponse,
  ErrorBody,
  Identity,
  ListParticipantsResponse,
  ListRoomsResponse,
  MuteParticipantRequest,
  MuteParticipantResponse,
  RoomName,
  RoomView,
  SayData,
  SayResult,
} from '@parley/contracts';
import { z } from 'zod';

/** Who may call a route: the tenant's API key, or also a participant token with the admin grant. */
export type RouteAuth = 'apiKey' | 'apiKeyOrAdminToken';

/** One REST route: the single source of the controllers' validation and of the OpenAPI document. */
export interface RouteSpec {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI-style path (`{room}`). */
  path: string;
  summary: string;
  auth: RouteAuth;
  params?: Record<string, z.ZodType>;
  body?: z.ZodType;
  response: z.ZodType;
  status: number;
}

const room = { room: RoomName };
const participant = { room: RoomName, identity: Identity };

/** Every `/v1` REST route. */
export const API = {
  createToken: {
    method: 'post',
    path: '/v1/tokens',
    summary: 'Mint a participant token signed with your API secret.',
    auth: 'apiKey',
    body: CreateTokenRequest,
    response: CreateTokenResponse,
    status: 201,
  },
  createRoom: {
    method: 'post',
    path: '/v1/rooms',
    summary: 'Create a room with options (409 when the name is taken).',
    auth: 'apiKey',
    body: CreateRoomRequest,
    response: RoomView,
    status: 201,
  },
  listRooms: {
    method: 'get',
    path: '/v1/rooms',
    summary: 'List your rooms.',
    auth: 'apiKey',
    response: ListRoomsResponse,
    status: 200,
  },
  getRoom: {
    method: 'get',
    path: '/v1/rooms/{room}',
    summary: 'Get one room.',
    auth: 'apiKeyOrAdminToken',
    params: room,
    response: RoomView,
    status: 200,
  },
  deleteRoom: {
    method: 'delete',
    path: '/v1/rooms/{room}',
    summary: 'Delete a room: participants are removed (close 4003) and the SFU frees it.',
    auth: 'apiKeyOrAdminToken',
    params: room,
    response: DeletedResponse,
    status: 200,
  },
  listParticipants: {
    method: 'get',
    path: '/v1/rooms/{room}/participants',
    summary: 'List the participants of a room (connected or reconnecting).',
    auth: 'apiKeyOrAdminToken',
    params: room,
    response: ListParticipantsResponse,
    status: 200,
  },
  removeParticipant: {
    method: 'delete',
    path: '/v1/rooms/{room}/participants/{identity}',
    summary: 'Remove a participant (admin grant).',
    auth: 'apiKeyOrAdminToken',
    params: participant,
    response: DeletedResponse,
    status: 200,
  },
  muteParticipant: {
    method: 'post',
    path: '/v1/rooms/{room}/participants/{identity}/mute',
    summary: 'Mute or unmute a participant’s audio (admin grant).',
    auth: 'apiKeyOrAdminToken',
    params: participant,
    body: MuteParticipantRequest,
    response: MuteParticipantResponse,
    status: 200,
  },
  sayInRoom: {
    method: 'post',
    path: '/v1/rooms/{room}/say',
    summary:
      'Speak text into a live room through its agent participant (admin grant); 409 ROOM_NOT_LIVE when nobody is in it.',
    auth: 'apiKeyOrAdminToken',
    params: room,
    body: SayData,
    response: SayResult,
    status: 202,
  },
} as const satisfies Record<string, RouteSpec>;

/** Nest path of a route (`/v1/rooms/:room`). */
export function nestPath(spec: RouteSpec): string {
  return spec.path.replace(/\{(\w+)\}/g, ':$1');
}

const ERRORS: Record<number, string> = {
  400: 'Invalid input (`BAD_REQUEST`, with details).',
  401: 'Missing or bad credentials (`UNAUTHORIZED`, `TOKEN_EXPIRED`, `TOKEN_BAD_SIGNATURE`, ...).',
  403: 'Not allowed (`FORBIDDEN`).',
  404: 'Unknown room or participant.',
  409: 'Conflict (`CONFLICT`).',
  429: 'Rate limited (`RATE_LIMITED`; see `Retry-After`).',
  503: 'State store or SFU unavailable (`UNAVAILABLE`, `SFU_UNAVAILABLE`).',
};

function schema(s: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, {
    io,
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/**
 * The OpenAPI 3.1 document of `/v1`, generated from {@link API} and the contracts' zod schemas
 * (never kept by hand). The WebSocket endpoint is listed with a pointer to `docs/protocol.md`.
 */
export function buildOpenApi(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [operationId, spec] of Object.entries(API) as Array<[string, RouteSpec]>) {
    const op: Record<string, unknown> = {
      operationId,
      summary: spec.summary,
      security: spec.auth === 'apiKey' ? [{ apiKey: [] }] : [{ apiKey: [] }, { bearer: [] }],
      responses: {
        [String(spec.status)]: {
          description: 'OK',
          content: { 'application/json': { schema: schema(spec.response, 'output') } },
        },
        ...Object.fromEntries(
          Object.entries(ERRORS).map(([code, description]) => [
            code,
            {
              description,
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
            },
          ]),
        ),
      },
    };
    if (spec.params) {
      op['parameters'] = Object.entries(spec.params).map(([name, s]) => ({
        name,
        in: 'path',
        required: true,
        schema: schema(s, 'input'),
      }));
    }
    if (spec.body) {
      op['requestBody'] = {
        required: true,
        content: { 'application/json': { schema: schema(spec.body, 'input') } },
      };
    }
    (paths[spec.path] ??= {})[spec.method] = op;
  }
  paths['/v1/ws'] = {
    get: {
      operationId: 'websocket',
      summary: 'WebSocket signaling (`?token=<participant token>`); protocol in docs/protocol.md.',
      parameters: [{ name: 'token', in: 'query', required: true, schema: { type: 'string' } }],
      responses: {
        '101': { description: 'Switching protocols; a bad token closes with 4001 and the reason.' },
        '429': { description: 'Too many connection attempts from this address.' },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Parley signaling',
      version,
      description:
        'Rooms, participants and tokens. Tenant back ends authenticate with HTTP Basic `apiKey:apiSecret`; ' +
        'participant tokens with the admin grant may manage their own room. Errors are `{code,message}`.',
    },
    paths,
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'basic',
          description: 'API key as user, API secret as password.',
        },
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'Participant token with the admin grant.',
        },
      },
      schemas: { Error: schema(ErrorBody, 'output') },
    },
  };
}
