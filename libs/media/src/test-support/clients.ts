// Real Node WebRTC clients for the integration tests: a @roamhq/wrtc sender that encodes a sine
// tone to Opus (libwebrtc's encoder), a werift receiver that counts raw RTP, and a wrtc receiver
// that decodes Opus back to PCM (both wrtc clients run in a child process). They talk to a
// `Peer` through the library API only.
// Test support only.
import { join } from 'node:path';

import { RTCPeerConnection as WeriftPeerConnection, RTCRtpCodecParameters } from 'werift';

import type { ConsumerInfo } from '../lib/MediaTypes';
import { ChildRpc } from './child-rpc';
import type { Peer } from '../lib/Peer';
import {
  clientDtlsParameters,
  OPUS_RECV_CAPABILITIES,
  opusProducerParameters,
  parseLocalSdp,
  recvOfferSdp,
  sendAnswerSdp,
} from './sdp';

/** A @roamhq/wrtc peer connection living in a child process (see wrtc-child.cjs for why). */
function wrtcProcess(): ChildRpc {
  return new ChildRpc(join(__dirname, 'wrtc-child.cjs'), 'wrtc child');
}

/** A connected sending client. */
export interface ToneSender {
  transportId: string;
  producerId: string;
  close(): void;
}

/** Sends a sine tone (10 ms PCM frames -> libwebrtc's Opus encoder) as an audio producer. */
export async function connectToneSender(peer: Peer, frequencyHz = 440): Promise<ToneSender> {
  const client = wrtcProcess();
  try {
    const { sdp } = await client.request<{ sdp: string }>('sendOffer', { frequencyHz });
    const local = parseLocalSdp(sdp);
    const t = await peer.createWebRtcTransport();
    await client.request('setAnswer', { sdp: sendAnswerSdp(t, local) });
    await peer.connectTransport(t.id, clientDtlsParameters(local));
    const { id } = await peer.produce({
      transportId: t.id,
      kind: 'audio',
      rtpParameters: opusProducerParameters(local),
    });
    return { transportId: t.id, producerId: id, close: () => client.kill() };
  } catch (err) {
    client.kill();
    throw err;
  }
}

/** What a {@link connectPcmSender} plays. */
export interface PcmSenderOptions {
  /** 48 kHz mono PCM. */
  pcm: Int16Array;
  /** Silence after each play, ms. Default 0. */
  silenceMs?: number;
  /** Plays (each followed by the silence); then silence for ever. Default 1. */
  repeat?: number;
}

/**
 * Sends given PCM (e.g. espeak-ng speech, or tone bursts) through libwebrtc's Opus encoder as an
 * audio producer, in real time from the moment the offer is made.
 */
export async function connectPcmSender(peer: Peer, options: PcmSenderOptions): Promise<ToneSender> {
  const client = wrtcProcess();
  try {
    const pcm = Buffer.from(options.pcm.buffer, options.pcm.byteOffset, options.pcm.byteLength);
    const { sdp } = await client.request<{ sdp: string }>('sendOffer', {
      pcm: pcm.toString('base64'),
      silenceMs: options.silenceMs ?? 0,
      repeat: options.repeat ?? 1,
    });
    const local = parseLocalSdp(sdp);
    const t = await peer.createWebRtcTransport();
    await client.request('setAnswer', { sdp: sendAnswerSdp(t, local) });
    await peer.connectTransport(t.id, clientDtlsParameters(local));
    const { id } = await peer.produce({
      transportId: t.id,
      kind: 'audio',
      rtpParameters: opusProducerParameters(local),
    });
    return { transportId: t.id, producerId: id, close: () => client.kill() };
  } catch (err) {
    client.kill();
    throw err;
  }
}

/** A connected receiving client and what it got. */
export interface RtpReceiver {
  transportId: string;
  consumer: ConsumerInfo;
  packets: number;
  /** RTP payload bytes received. */
  bytes: number;
  payloadTypes: Set<number>;
  /** First payload byte (Opus TOC) of every packet, bounded. */
  tocBytes: number[];
  /** Header fields and arrival time (performance.now) of every packet, bounded. */
  headers: { seq: number; ts: number; marker: boolean; at: number }[];
  close(): void;
}

/** Consumes `producerId` with werift and counts the raw RTP it receives. */
export async function connectWeriftReceiver(peer: Peer, producerId: string): Promise<RtpReceiver> {
  const pc = new WeriftPeerConnection({
    iceServers: [],
    // werift gathers no loopback candidate by itself; the test SFU listens on 127.0.0.1.
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
    },
  });
  const t = await peer.createWebRtcTransport();
  const consumer = await peer.consume({
    transportId: t.id,
    producerId,
    rtpCapabilities: OPUS_RECV_CAPABILITIES,
  });
  const rx: RtpReceiver = {
    transportId: t.id,
    consumer,
    packets: 0,
    bytes: 0,
    payloadTypes: new Set(),
    tocBytes: [],
    headers: [],
    close: () => void pc.close(),
  };
  pc.onTrack.subscribe((track) => {
    track.onReceiveRtp.subscribe((rtp) => {
      rx.packets++;
      rx.bytes += rtp.payload.length;
      rx.payloadTypes.add(rtp.header.payloadType);
      if (rx.tocBytes.length < 500 && rtp.payload.length > 0) rx.tocBytes.push(rtp.payload[0] ?? 0);
      if (rx.headers.length < 5000) {
        rx.headers.push({
          seq: rtp.header.sequenceNumber,
          ts: rtp.header.timestamp,
          marker: rtp.header.marker,
          at: performance.now(),
        });
      }
    });
  });
  await pc.setRemoteDescription({ type: 'offer', sdp: recvOfferSdp(t, consumer) });
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  const local = parseLocalSdp(pc.localDescription?.sdp ?? '');
  await peer.connectTransport(t.id, clientDtlsParameters(local));
  await peer.resumeConsumer(consumer.id);
  return rx;
}

/** What the decoding client measured. */
export interface PcmStats {
  /** Decoded samples seen (first channel). */
  samples: number;
  /** Samples in frames loud enough to be the tone, with their energy and zero crossings. */
  toneSamples: number;
  sumSquares: number;
  zeroCrossings: number;
  sampleRate: number;
  connectionState: string;
}

/** A receiving client that decodes Opus back to PCM. */
export interface PcmReceiver {
  transportId: string;
  consumer: ConsumerInfo;
  stats(): Promise<PcmStats>;
  close(): void;
}

/** Consumes `producerId` with @roamhq/wrtc and decodes it through an RTCAudioSink. */
export async function connectWrtcDecoder(peer: Peer, producerId: string): Promise<PcmReceiver> {
  const client = wrtcProcess();
  try {
    const t = await peer.createWebRtcTransport();
    const consumer = await peer.consume({
      transportId: t.id,
      producerId,
      rtpCapabilities: OPUS_RECV_CAPABILITIES,
    });
    const { sdp } = await client.request<{ sdp: string }>('recvAnswer', {
      offerSdp: recvOfferSdp(t, consumer),
    });
    await peer.connectTransport(t.id, clientDtlsParameters(parseLocalSdp(sdp)));
    await peer.resumeConsumer(consumer.id);
    return {
      transportId: t.id,
      consumer,
      stats: () => client.request<PcmStats>('state'),
      close: () => client.kill(),
    };
  } catch (err) {
    client.kill();
    throw err;
  }
}

/** Polls an async `predicate` until true or `timeoutMs` passes. */
export async function waitForAsync(
  predicate: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls `predicate` until true or `timeoutMs` passes. */
export async function waitFor(
  predicate: () => boolean,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
