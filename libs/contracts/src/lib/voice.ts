import { z } from 'zod';
import { defineEvent, defineRequest } from './contract';
import { ErrorBody } from './errors';
import { registerContracts } from './registry';

/**
 * The voice loop over NATS: what the SFU's audio tap reports about speech in a room, and how any
 * service makes the SFU speak into a room.
 *
 * - **Tap**: with live transcription on, the SFU consumes each audio producer server-side, decodes
 *   Opus, resamples to 16 kHz and runs a VAD. Each utterance gets an id (also its correlation id)
 *   and one trace; the SFU announces it on `sfu.speech.started.<roomId>` / `sfu.speech.ended.<roomId>`
 *   and sends it to the STT realtime lane (`stt.realtime.transcribe`, partials while speech goes on,
 *   a final at its end). Transcripts come back on `stt.transcript.partial|finalized.<roomId>`.
 * - **Playback**: `sfu.say.start.<roomId>` is served only by the SFU node hosting the room (so `NO_RESPONDERS`
 *   means the room is not live anywhere). The SFU streams the text through `tts.synthesize`,
 *   resamples to 48 kHz, encodes Opus in 20 ms frames and plays it through the room's server-side
 *   producer, owned by the peer {@link AGENT_PEER_ID}. Requests queue per room; `interrupt` stops
 *   what is playing first. Barge-in (room option) stops playback when a participant starts speaking.
 */

/** Peer id of the server-side participant that plays speech into a room. */
export const AGENT_PEER_ID = 'agent';

const VoiceRoomId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,128}$/, 'room ids are 1-128 of [A-Za-z0-9_-]');
const VoiceToken = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'ids are 1-128 of [A-Za-z0-9_-]');

/** Longest text one `say` accepts (characters). */
export const SAY_MAX_TEXT = 5000;

/** Request of `sfu.say.start.<roomId>`. */
export const SaySpeechRequest = z
  .object({
    roomId: VoiceRoomId,
    /** What to say (plain text; spoken sentence by sentence as it is synthesised). */
    text: z.string().trim().min(1, 'nothing to say').max(SAY_MAX_TEXT),
    /** Piper voice; default: the room's voice, else the TTS service's default. */
    voice: z.string().min(1).max(128).optional(),
    /** Speaker of a multi-speaker voice. */
    speaker: z.union([z.string().min(1).max(128), z.number().int().nonnegative()]).optional(),
    /** Phoneme duration factor (< 1 faster). */
    lengthScale: z.number().min(0.1).max(10).optional(),
    /** Caller-chosen id (default: generated); events and the reply carry it. */
    sayId: VoiceToken.optional(),
    /** Stop what is playing (and drop the queue) before this one. Default: queue behind it. */
    interrupt: z.boolean().optional(),
    /** Who asked: a participant (`peer:<id>`), `rest`, or a service name. For logs and events. */
    requestedBy: z.string().max(256).optional(),
  })
  .strict();
/** Request of `sfu.say.start.<roomId>`. */
export type SaySpeechRequest = z.input<typeof SaySpeechRequest>;

/** Reply of `sfu.say.start.<roomId>`: accepted (audio follows; see the started/ended events). */
export const SaySpeechResponse = z.object({
  sayId: VoiceToken,
  /** The room's server-side producer that will carry the speech. */
  producerId: z.string(),
  /** Speech requests ahead of this one in the room's queue. */
  queued: z.number().int().nonnegative(),
});
/** Reply of `sfu.say.start.<roomId>`. */
export type SaySpeechResponse = z.infer<typeof SaySpeechResponse>;

/** Request of `sfu.say.stop.<roomId>`: stop one speech request, or all of the room's. */
export const SayStopRequest = z
  .object({ roomId: VoiceRoomId, sayId: VoiceToken.optional() })
  .strict();
/** Reply of `sfu.say.stop.<roomId>`. */
export const SayStopResponse = z.object({ stopped: z.number().int().nonnegative() });

/** `sfu.say.started.<roomId>`: the first audio packet of a speech request left the SFU. */
export const SayStartedEvent = z.object({
  roomId: VoiceRoomId,
  sayId: VoiceToken,
  producerId: z.string(),
  voice: z.string(),
  text: z.string(),
  requestedBy: z.string().optional(),
  /** When the SFU received the request, ms since the epoch. */
  requestedAt: z.number(),
  /** When the first RTP packet was sent into the room, ms since the epoch. */
  firstPacketAt: z.number(),
});
/** A speech request started playing. */
export type SayStartedEvent = z.infer<typeof SayStartedEvent>;

/** `sfu.say.ended.<roomId>`: a speech request finished, was stopped, or failed. */
export const SayEndedEvent = z.object({
  roomId: VoiceRoomId,
  sayId: VoiceToken,
  producerId: z.string(),
  reason: z.enum(['done', 'cancelled', 'barge_in', 'error']),
  /** Set when `reason` is `error`. */
  error: ErrorBody.optional(),
  /** Audio played, ms. */
  playedMs: z.number().nonnegative(),
  endedAt: z.number(),
});
/** A speech request ended. */
export type SayEndedEvent = z.infer<typeof SayEndedEvent>;

/** `sfu.speech.started.<roomId>`: the tap's VAD heard a participant start speaking. */
export const SpeechStartedEvent = z.object({
  roomId: VoiceRoomId,
  peerId: z.string(),
  /** Id of the utterance (also its correlation id); transcripts carry it. */
  utteranceId: VoiceToken,
  /** Wall clock of the first speech sample, ms since the epoch. */
  at: z.number(),
  /** Offset of the first speech sample on the producer's audio timeline, ms. */
  startMs: z.number().nonnegative(),
});
/** Speech started. */
export type SpeechStartedEvent = z.infer<typeof SpeechStartedEvent>;

/** `sfu.speech.ended.<roomId>`: the VAD saw the end of an utterance (after its hangover). */
export const SpeechEndedEvent = SpeechStartedEvent.extend({
  /** Offset of the last speech sample on the producer's audio timeline, ms. */
  endMs: z.number().nonnegative(),
  /** Wall clock when the VAD decided the utterance ended, ms since the epoch. */
  decidedAt: z.number(),
});
/** Speech ended. */
export type SpeechEndedEvent = z.infer<typeof SpeechEndedEvent>;

/** Wall clock (ms since the epoch) of an utterance's last speech sample. */
export function speechEndedAt(e: SpeechEndedEvent): number {
  return e.at + (e.endMs - e.startMs);
}

/** Requests of the voice loop. */
export const voiceContracts = {
  say: defineRequest({
    subject: 'sfu.say.start',
    request: SaySpeechRequest,
    response: SaySpeechResponse,
    timeoutMs: 5000,
    description:
      'Speak text into a room (.<roomId>; served by the SFU node hosting it). Replies once accepted.',
  }),
  sayStop: defineRequest({
    subject: 'sfu.say.stop',
    request: SayStopRequest,
    response: SayStopResponse,
    timeoutMs: 5000,
    description: "Stop one speech request or all of a room's (.<roomId>).",
  }),
} as const;

/** Events of the voice loop (room events carry the room id as a trailing token). */
export const voiceEvents = {
  sayStarted: defineEvent({
    subject: 'sfu.say.started',
    payload: SayStartedEvent,
    description: 'Speech into a room started: its first audio packet left the SFU (.<roomId>).',
  }),
  sayEnded: defineEvent({
    subject: 'sfu.say.ended',
    payload: SayEndedEvent,
    description: 'Speech into a room ended: done, cancelled, barge-in or error (.<roomId>).',
  }),
  speechStarted: defineEvent({
    subject: 'sfu.speech.started',
    payload: SpeechStartedEvent,
    description: 'A participant started speaking (tap VAD) (.<roomId>).',
  }),
  speechEnded: defineEvent({
    subject: 'sfu.speech.ended',
    payload: SpeechEndedEvent,
    description: 'A participant stopped speaking (tap VAD) (.<roomId>).',
  }),
} as const;

registerContracts(...Object.values(voiceContracts), ...Object.values(voiceEvents));
