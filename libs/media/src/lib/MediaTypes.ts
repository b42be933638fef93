import type { types as ms } from 'mediasoup';

/** What a client needs to set up its side of a WebRTC transport (ICE-lite + DTLS). */
export interface WebRtcTransportInfo {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

/** What a client needs to receive a consumer. */
export interface ConsumerInfo {
  id: string;
  producerId: string;
  /** Peer owning the producer. */
  producerPeerId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  type: ms.ConsumerType;
  /** Whether the producer is paused (the consumer itself always starts paused). */
  producerPaused: boolean;
}

/** A producer as listed to joining peers. */
export interface ProducerInfo {
  id: string;
  peerId: string;
  kind: ms.MediaKind;
  paused: boolean;
}

/** One audio level entry; `volume` in dBov (-127..0). */
export interface AudioLevel {
  peerId: string;
  producerId: string;
  volume: number;
}

/** Why a room closed. */
export type RoomCloseReason = 'closed' | 'idle' | 'worker-died';

/** Per-transport statistics. */
export interface TransportStats {
  id: string;
  peerId: string;
  iceState: ms.IceState;
  dtlsState: ms.DtlsState;
  bytesReceived: number;
  bytesSent: number;
  /** bits per second */
  recvBitrate: number;
  /** bits per second */
  sendBitrate: number;
}

/** Per-producer statistics (what the SFU receives). */
export interface ProducerStats {
  id: string;
  peerId: string;
  kind: ms.MediaKind;
  paused: boolean;
  mimeType?: string;
  /** bits per second */
  bitrate: number;
  packetCount: number;
  byteCount: number;
  packetsLost: number;
  /** Loss fraction of the last report interval, 0..1. */
  fractionLost: number;
  jitter: number;
  score: number;
}

/** Per-consumer statistics (what the SFU sends; loss from the receiver's RTCP reports). */
export interface ConsumerStats {
  id: string;
  peerId: string;
  producerId: string;
  paused: boolean;
  producerPaused: boolean;
  mimeType?: string;
  /** bits per second */
  bitrate: number;
  packetCount: number;
  byteCount: number;
  packetsLost: number;
  /** Loss fraction of the last report interval, 0..1. */
  fractionLost: number;
  score: number;
}

/** Statistics of one room, as plain data. */
export interface RoomStats {
  roomId: string;
  createdAt: number;
  peers: number;
  routers: { id: string; workerIndex: number; workerPid: number; consumers: number }[];
  transports: TransportStats[];
  producers: ProducerStats[];
  consumers: ConsumerStats[];
  totals: {
    recvBitrate: number;
    sendBitrate: number;
    producerPacketsLost: number;
    consumerPacketsLost: number;
    /** Lost / (received + lost) over the producers' lifetime, percent. */
    producerLossPct: number;
  };
}
