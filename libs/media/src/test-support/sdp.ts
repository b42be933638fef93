// Minimal SDP glue between mediasoup's ICE-lite/DTLS parameters and standard WebRTC peer
// connections (what mediasoup-client does in a browser), for one audio m-section per connection.
// Test support only.
import type { types as ms } from 'mediasoup';

import type { WebRtcTransportInfo } from '../lib/MediaTypes';

/** What we read back from a client's local description. */
export interface LocalSdpInfo {
  fingerprint: ms.DtlsFingerprint;
  setup: string;
  mid: string;
  ssrc?: number;
  cname?: string;
  /** Header extension id the client uses for ssrc-audio-level (drives AudioLevelObserver). */
  audioLevelExtId?: number;
  /** Payload type and fmtp of the client's Opus. */
  opus?: { payloadType: number; parameters: Record<string, string | number> };
}

const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** Parses the parts of a client SDP that mediasoup needs. */
export function parseLocalSdp(sdp: string): LocalSdpInfo {
  const fp = /a=fingerprint:(\S+) (\S+)/.exec(sdp);
  if (!fp?.[1] || !fp[2]) throw new Error('no DTLS fingerprint in local SDP');
  const setup = /a=setup:(\w+)/.exec(sdp)?.[1] ?? 'actpass';
  const mid = /a=mid:(\S+)/.exec(sdp)?.[1] ?? '0';
  const ssrcLine = /a=ssrc:(\d+) cname:(\S+)/.exec(sdp);
  const pt = /a=rtpmap:(\d+) opus\/48000\/2/i.exec(sdp)?.[1];
  let opus: LocalSdpInfo['opus'];
  if (pt) {
    const fmtp = new RegExp(`a=fmtp:${pt} (.*)`).exec(sdp)?.[1]?.trim() ?? '';
    const parameters: Record<string, string | number> = {};
    for (const kv of fmtp.split(';').filter(Boolean)) {
      const [k, v = ''] = kv.split('=');
      if (k) parameters[k.trim()] = /^\d+$/.test(v) ? Number(v) : v;
    }
    opus = { payloadType: Number(pt), parameters };
  }
  const ext = /a=extmap:(\d+)(?:\/\w+)? urn:ietf:params:rtp-hdrext:ssrc-audio-level/.exec(sdp)?.[1];
  return {
    audioLevelExtId: ext ? Number(ext) : undefined,
    fingerprint: {
      algorithm: fp[1].toLowerCase() as ms.FingerprintAlgorithm,
      value: fp[2].toUpperCase(),
    },
    setup,
    mid,
    ssrc: ssrcLine?.[1] ? Number(ssrcLine[1]) : undefined,
    cname: ssrcLine?.[2],
    opus,
  };
}

/** The DTLS parameters to give `connectTransport` for a client whose SDP said `setup`. */
export function clientDtlsParameters(local: LocalSdpInfo): ms.DtlsParameters {
  // The role is the *remote's* (client's): active = it starts the handshake = DTLS client.
  return {
    role: local.setup === 'passive' ? 'server' : 'client',
    fingerprints: [local.fingerprint],
  };
}

/** Producer RTP parameters for the client's Opus stream. */
export function opusProducerParameters(local: LocalSdpInfo): ms.RtpParameters {
  if (!local.opus || local.ssrc === undefined) throw new Error('client SDP has no Opus/ssrc');
  return {
    mid: local.mid,
    codecs: [
      {
        mimeType: 'audio/opus',
        payloadType: local.opus.payloadType,
        clockRate: 48000,
        channels: 2,
        parameters: local.opus.parameters,
        rtcpFeedback: [],
      },
    ],
    headerExtensions:
      local.audioLevelExtId === undefined
        ? []
        : [{ uri: AUDIO_LEVEL_URI, id: local.audioLevelExtId, encrypt: false, parameters: {} }],
    encodings: [{ ssrc: local.ssrc }],
    rtcp: { cname: local.cname ?? 'producer', reducedSize: true },
  };
}

/** RTP capabilities of an Opus-only receiving device. */
export const OPUS_RECV_CAPABILITIES: ms.RtpCapabilities = {
  codecs: [
    {
      kind: 'audio',
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      preferredPayloadType: 100,
      rtcpFeedback: [],
    },
  ],
  headerExtensions: [],
};

function transportLines(t: WebRtcTransportInfo): string[] {
  const fp =
    t.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ??
    t.dtlsParameters.fingerprints[0];
  if (!fp) throw new Error('transport has no fingerprint');
  return [
    'c=IN IP4 127.0.0.1',
    `a=ice-ufrag:${t.iceParameters.usernameFragment}`,
    `a=ice-pwd:${t.iceParameters.password}`,
    ...t.iceCandidates.map(
      (c) =>
        `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ host` +
        (c.protocol === 'tcp' ? ` tcptype ${c.tcpType ?? 'passive'}` : ''),
    ),
    'a=end-of-candidates',
    `a=fingerprint:${fp.algorithm} ${fp.value}`,
  ];
}

function opusLines(payloadType: number, parameters: Record<string, unknown>): string[] {
  const fmtp = Object.entries(parameters)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
  return [
    `a=rtpmap:${payloadType} opus/48000/2`,
    ...(fmtp ? [`a=fmtp:${payloadType} ${fmtp}`] : []),
  ];
}

function header(): string[] {
  return ['v=0', `o=mediasoup ${Date.now()} 1 IN IP4 127.0.0.1`, 's=-', 't=0 0', 'a=ice-lite'];
}

/** The server's answer to a client's send offer (server receives; DTLS server). */
export function sendAnswerSdp(t: WebRtcTransportInfo, local: LocalSdpInfo): string {
  if (!local.opus) throw new Error('client offered no Opus');
  const pt = local.opus.payloadType;
  return [
    ...header(),
    `a=group:BUNDLE ${local.mid}`,
    'a=msid-semantic: WMS *',
    `m=audio 7 UDP/TLS/RTP/SAVPF ${pt}`,
    ...transportLines(t),
    'a=setup:passive',
    `a=mid:${local.mid}`,
    'a=recvonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    ...(local.audioLevelExtId === undefined
      ? []
      : [`a=extmap:${local.audioLevelExtId} ${AUDIO_LEVEL_URI}`]),
    ...opusLines(pt, local.opus.parameters),
    '',
  ].join('\r\n');
}

/** The server's offer for one consumer (server sends; client picks the DTLS role). */
export function recvOfferSdp(
  t: WebRtcTransportInfo,
  consumer: { id: string; rtpParameters: ms.RtpParameters },
): string {
  const codec = consumer.rtpParameters.codecs[0];
  const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
  const mid = consumer.rtpParameters.mid ?? '0';
  if (!codec || ssrc === undefined) throw new Error('consumer has no codec/ssrc');
  const cname = consumer.rtpParameters.rtcp?.cname ?? 'mediasoup';
  return [
    ...header(),
    `a=group:BUNDLE ${mid}`,
    'a=msid-semantic: WMS *',
    `m=audio 7 UDP/TLS/RTP/SAVPF ${codec.payloadType}`,
    ...transportLines(t),
    'a=setup:actpass',
    `a=mid:${mid}`,
    'a=sendonly',
    'a=rtcp-mux',
    'a=rtcp-rsize',
    `a=msid:parley ${consumer.id}`,
    ...opusLines(codec.payloadType, codec.parameters ?? {}),
    `a=ssrc:${ssrc} cname:${cname}`,
    `a=ssrc:${ssrc} msid:parley ${consumer.id}`,
    '',
  ].join('\r\n');
}
