import type { TokenClaims } from '@parley/auth';
import type {
  Grants,
  Role,
  WsNotificationData,
  WsNotificationMethod,
  WsResponseData,
} from '@parley/contracts';

/** The joined state of one connection, mirrored in Redis by its session. */
export interface LiveSession {
  sessionId: string;
  tenant: string;
  roomId: string;
  room: string;
  peerId: string;
  identity: string;
  displayName?: string;
  role: Role;
  grants: Grants;
  /** Claim epoch: a resume elsewhere bumps it, making this connection's release a no-op. */
  epoch: number;
  /** SFU node holding this peer's transports. */
  sfuNode: string;
  emptyTimeoutS: number;
  transports: Map<string, 'send' | 'recv'>;
  /**
   * Transports the SFU created with the join (`sfu.room.open` with the peer), handed out by the
   * first `createTransport` of each direction instead of another SFU round trip.
   */
  prepared?: Map<'send' | 'recv', Omit<WsResponseData<'createTransport'>, 'direction'>>;
  /** producerId -> kind */
  producers: Map<string, string>;
  /** consumerId -> producerId */
  consumers: Map<string, string>;
  muted: boolean;
  mutedProducers: string[];
}

/** What the core needs of a client connection (the WebSocket gateway implements it). */
export interface PeerLink {
  /** Connection id (logs). */
  readonly connId: string;
  /** The verified token the connection was opened with. */
  readonly claims: TokenClaims;
  /** Set once joined. */
  session?: LiveSession;
  /** Sends a notification (dropped when the socket is closing or backed up). */
  notify<N extends WsNotificationMethod>(method: N, data: WsNotificationData<N>): void;
  /** Closes the socket without releasing the session (the caller decided its fate). */
  close(code: number, reason: string): void;
}
