import { readFile } from 'node:fs/promises';

import { TtsError } from './TtsError';
import type { VoiceInfo } from './types';

/**
 * Piper's own HTTP server, restated so a client written for it works unchanged against Parley.
 * Two generations exist and this accepts both:
 *
 * - rhasspy/piper `http_server.py`: `GET /?text=…` and `POST /` with the text as the body
 *   (`Content-Type: text/plain`), everything else from the command line.
 * - OHF-Voice/piper1-gpl `http_server.py`: `POST /` (later `POST /synthesize`) with a JSON body
 *   `{ text, voice?, speaker?, speaker_id?, length_scale?, noise_scale?, noise_w_scale? }`,
 *   `GET /voices` (every voice's `.onnx.json` by name) and `GET /info`.
 *
 * Piper is lenient where Parley's own API is strict, and this keeps Piper's leniency: an unknown
 * voice falls back to the default voice, an unknown speaker name to speaker 0, a speaker id past
 * the last speaker to 0, and speakers are ignored for single-speaker voices.
 */

/** A Piper synthesis request, parsed but not yet resolved against the voices. */
export interface PiperSynthesisRequest {
  text: string;
  /** `voice` (piper1 JSON): a voice name. */
  voice?: string;
  /** `speaker_id`: overrides `speaker`. */
  speakerId?: number;
  /** `speaker`: a speaker name of a multi-speaker voice. */
  speaker?: string;
  lengthScale?: number;
  noiseScale?: number;
  /** `noise_w_scale` (piper1) or `noise_w` (rhasspy/piper's name). */
  noiseW?: number;
}

function num(value: unknown, name: string): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // Piper applies Python's float() to these, which accepts numeric strings too.
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(n))
    throw new TtsError('INVALID_OPTION', `${name} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function str(value: unknown): string | undefined {
  if (Array.isArray(value)) return str(value[0]);
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function speakerIdOf(value: unknown): number | undefined {
  const n = num(Array.isArray(value) ? value[0] : value, 'speaker_id');
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0)
    throw new TtsError('INVALID_OPTION', `speaker_id must be a non-negative integer, got ${n}`);
  return n;
}

/** Reads Piper's JSON fields (piper1 `POST /` and `POST /synthesize`). */
export function parsePiperJson(data: unknown): PiperSynthesisRequest {
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new TtsError('INVALID_OPTION', 'the JSON body must be an object with a "text" field');
  const d = data as Record<string, unknown>;
  if (d['text'] !== undefined && typeof d['text'] !== 'string')
    throw new TtsError('INVALID_OPTION', '"text" must be a string');
  return {
    text: ((d['text'] as string | undefined) ?? '').trim(),
    voice: str(d['voice']),
    speaker: str(d['speaker']),
    speakerId: speakerIdOf(d['speaker_id']),
    lengthScale: num(d['length_scale'], 'length_scale'),
    noiseScale: num(d['noise_scale'], 'noise_scale'),
    noiseW: num(d['noise_w_scale'] ?? d['noise_w'], 'noise_w_scale'),
  };
}

/**
 * Reads `GET /?text=…`. rhasspy/piper only reads `text`; the other Piper JSON field names are
 * accepted as query parameters too.
 */
export function parsePiperQuery(query: Record<string, unknown>): PiperSynthesisRequest {
  return {
    text: (str(query['text']) ?? '').trim(),
    voice: str(query['voice']),
    speaker: str(query['speaker']),
    speakerId: speakerIdOf(query['speaker_id']),
    lengthScale: num(str(query['length_scale']), 'length_scale'),
    noiseScale: num(str(query['noise_scale']), 'noise_scale'),
    noiseW: num(str(query['noise_w_scale'] ?? query['noise_w']), 'noise_w_scale'),
  };
}

/**
 * Reads a `POST /` body given as text: a JSON object with a `text` field is piper1's request
 * (piper1 parses the body as JSON whatever its content type); anything else is the text to speak,
 * as rhasspy/piper reads it.
 */
export function parsePiperBody(body: string): PiperSynthesisRequest {
  const trimmed = body.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      parsed = undefined;
    }
    if (parsed && typeof parsed === 'object' && 'text' in parsed) return parsePiperJson(parsed);
  }
  return { text: trimmed };
}

/**
 * Recovers the text of a body that arrived form-encoded (`curl --data 'Hello.'` without a
 * content type): the form parser turned `Hello.` into `{ "Hello.": "" }`. Pairs are put back as
 * they were written; `+` and `%xx` escapes are already decoded by the parser.
 */
export function formBodyToText(form: Record<string, unknown>): string {
  return Object.entries(form)
    .map(([k, v]) => (v === '' || v === undefined ? k : `${k}=${str(v) ?? ''}`))
    .join('&');
}

/** What the voices need to resolve a Piper request. */
export interface PiperVoiceLookup {
  /** Default voice name. */
  defaultVoice: string;
  /** Whether a voice exists. */
  has(name: string): boolean;
  /** Speakers of a voice: count and name map. */
  speakers(name: string): { numSpeakers: number; speakerIdMap: Record<string, number> };
}

/** A Piper request resolved the way Piper resolves it. */
export interface ResolvedPiperRequest {
  voice: string;
  /** Speaker id for multi-speaker voices; undefined for single-speaker ones. */
  speakerId?: number;
  /** What Piper would have logged as warnings (unknown voice, unknown speaker). */
  warnings: string[];
}

/** Applies Piper's fallbacks for the voice and speaker of a request. */
export function resolvePiperRequest(
  req: PiperSynthesisRequest,
  voices: PiperVoiceLookup,
): ResolvedPiperRequest {
  const warnings: string[] = [];
  let voice = req.voice ?? voices.defaultVoice;
  if (!voices.has(voice)) {
    warnings.push(`voice not found: ${voice}; using the default voice`);
    voice = voices.defaultVoice;
  }
  const { numSpeakers, speakerIdMap } = voices.speakers(voice);
  if (numSpeakers <= 1) return { voice, warnings };
  let speakerId = req.speakerId;
  if (speakerId === undefined && req.speaker) {
    speakerId = speakerIdMap[req.speaker];
    if (speakerId === undefined) warnings.push(`speaker not found: ${req.speaker}; using 0`);
  }
  // Piper checks `> num_speakers`, letting an id equal to it reach the model; >= is the intent.
  if (speakerId === undefined || speakerId >= numSpeakers) speakerId = 0;
  return { voice, speakerId, warnings };
}

/**
 * `GET /voices` as piper1 answers it: every voice's `.onnx.json`, as written, by voice name.
 * Configs that cannot be read are left out.
 */
export async function piperVoicesListing(
  voices: readonly Pick<VoiceInfo, 'name' | 'configPath'>[],
): Promise<Record<string, unknown>> {
  const entries = await Promise.all(
    voices.map(async (v) => {
      try {
        return [v.name, JSON.parse(await readFile(v.configPath, 'utf8')) as unknown] as const;
      } catch {
        return undefined;
      }
    }),
  );
  return Object.fromEntries(entries.filter((e) => e !== undefined));
}

/** The most recent synthesis, as piper1's `/info` reports it. */
export interface PiperLastSynthesis {
  text: string;
  synthesize_seconds: number;
  phonemes: string[];
  /** Piper's per-phoneme durations; Parley's models give none, so this is always empty. */
  alignments: Array<{ phoneme: string; seconds: number }>;
}

/** `GET /info` as piper1 answers it. */
export function piperInfo(
  voice: Pick<VoiceInfo, 'name' | 'espeakVoice' | 'numSpeakers'>,
  last: PiperLastSynthesis | undefined,
): {
  voice: { name: string; language: string; num_speakers: number };
  last: PiperLastSynthesis | null;
} {
  return {
    voice: { name: voice.name, language: voice.espeakVoice, num_speakers: voice.numSpeakers },
    last: last ?? null,
  };
}

/** Piper's phoneme list of a sentence: one entry per code point of the IPA string. */
export function piperPhonemes(ipa: string): string[] {
  return [...ipa.normalize('NFD')];
}
