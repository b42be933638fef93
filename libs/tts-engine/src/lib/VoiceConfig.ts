import { z } from 'zod';

import { TtsError } from './TtsError';

/** Piper's defaults when a config has no `inference` block (piper/config.py). */
export const PIPER_DEFAULT_INFERENCE = Object.freeze({
  noiseScale: 0.667,
  lengthScale: 1,
  noiseW: 0.8,
});

const idList = z.array(z.number().int().nonnegative()).min(1);

/**
 * The parts of a Piper `.onnx.json` the engine relies on. Unknown keys are allowed (real
 * configs carry `dataset`, `language`, `piper_version`, ...).
 */
const PiperConfigSchema = z.looseObject({
  audio: z.looseObject({
    sample_rate: z.number().int().min(1000).max(192000),
    quality: z.string().optional(),
  }),
  espeak: z.looseObject({ voice: z.string().min(1) }).optional(),
  inference: z
    .looseObject({
      noise_scale: z.number().nonnegative().optional(),
      length_scale: z.number().positive().optional(),
      noise_w: z.number().nonnegative().optional(),
    })
    .optional(),
  phoneme_type: z.string().optional(),
  phoneme_map: z.record(z.string(), z.array(z.string())).optional(),
  phoneme_id_map: z.record(z.string(), idList),
  num_symbols: z.number().int().positive().optional(),
  num_speakers: z.number().int().positive().optional(),
  speaker_id_map: z.record(z.string(), z.number().int().nonnegative()).optional(),
  language: z.looseObject({ code: z.string().optional() }).optional(),
  dataset: z.string().optional(),
  vowel_clusters: z.array(z.array(z.string()).min(2)).optional(),
});

/** A validated Piper voice configuration, in the engine's vocabulary. */
export interface VoiceConfig {
  /** Output sample rate in Hz. */
  sampleRate: number;
  /** espeak-ng voice used to phonemise, e.g. `en-us`. */
  espeakVoice: string;
  /** Phoneme (one codepoint, or a cluster for newer voices) to model ids. */
  phonemeIdMap: ReadonlyMap<string, readonly number[]>;
  /** Optional phoneme-to-phonemes rewrite applied before id mapping (Piper's `phoneme_map`). */
  phonemeMap: ReadonlyMap<string, readonly string[]>;
  /** Number of speakers; `sid` is fed to the model only when the model declares it. */
  numSpeakers: number;
  /** Speaker name to id. Empty for single-speaker voices. */
  speakerIdMap: ReadonlyMap<string, number>;
  /** Inference defaults of the voice. */
  inference: { noiseScale: number; lengthScale: number; noiseW: number };
  /** Piper quality label (`x_low`, `low`, `medium`, `high`) when present. */
  quality?: string;
  /** Language code, e.g. `en_US`, when present. */
  languageCode?: string;
  /**
   * Vowel clusters merged into one phoneme before id mapping (piper1's `vowel_clusters`, e.g.
   * `aɪ`), longest first. Empty for voices trained with piper-phonemize.
   */
  clusters: readonly string[];
}

/**
 * Validates a parsed `.onnx.json` and converts it. Throws `BAD_VOICE_CONFIG` naming the file
 * and every problem found.
 */
export function parseVoiceConfig(raw: unknown, source: string): VoiceConfig {
  const parsed = PiperConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new TtsError(
      'BAD_VOICE_CONFIG',
      `${source} is not a valid Piper voice config:\n${z.prettifyError(parsed.error)}`,
      {
        details: {
          source,
          issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
        },
      },
    );
  }
  const c = parsed.data;
  const problems: string[] = [];
  const phonemeType = c.phoneme_type ?? 'espeak';
  if (phonemeType !== 'espeak') {
    problems.push(`phoneme_type "${phonemeType}" is not supported (only "espeak")`);
  }
  if (!c.espeak) problems.push('espeak.voice is required for phoneme_type "espeak"');
  for (const symbol of ['_', '^', '$']) {
    if (!c.phoneme_id_map[symbol]) problems.push(`phoneme_id_map lacks the "${symbol}" symbol`);
  }
  const numSpeakers = c.num_speakers ?? 1;
  const speakers = Object.entries(c.speaker_id_map ?? {});
  for (const [name, id] of speakers) {
    if (id >= numSpeakers)
      problems.push(`speaker "${name}" has id ${id} but num_speakers is ${numSpeakers}`);
  }
  if (c.num_symbols !== undefined) {
    for (const [symbol, ids] of Object.entries(c.phoneme_id_map)) {
      const bad = ids.find((id) => id >= (c.num_symbols as number));
      if (bad !== undefined) {
        problems.push(`phoneme "${symbol}" maps to id ${bad}, beyond num_symbols ${c.num_symbols}`);
        break;
      }
    }
  }
  if (problems.length > 0) {
    throw new TtsError(
      'BAD_VOICE_CONFIG',
      `${source} is not a usable Piper voice config: ${problems.join('; ')}`,
      {
        details: { source, problems },
      },
    );
  }
  const phonemeIdMap = new Map<string, readonly number[]>();
  for (const [symbol, ids] of Object.entries(c.phoneme_id_map))
    phonemeIdMap.set(symbol.normalize('NFD'), ids);
  const clusters = (c.vowel_clusters ?? [])
    .map((parts) => parts.join('').normalize('NFD'))
    .filter((cluster) => phonemeIdMap.has(cluster))
    .sort((a, b) => [...b].length - [...a].length);
  return {
    sampleRate: c.audio.sample_rate,
    espeakVoice: (c.espeak as { voice: string }).voice,
    phonemeIdMap,
    phonemeMap: new Map(Object.entries(c.phoneme_map ?? {})),
    numSpeakers,
    speakerIdMap: new Map(speakers),
    inference: {
      noiseScale: c.inference?.noise_scale ?? PIPER_DEFAULT_INFERENCE.noiseScale,
      lengthScale: c.inference?.length_scale ?? PIPER_DEFAULT_INFERENCE.lengthScale,
      noiseW: c.inference?.noise_w ?? PIPER_DEFAULT_INFERENCE.noiseW,
    },
    quality: c.audio.quality,
    languageCode: c.language?.code,
    clusters,
  };
}

/** Parses the text of a `.onnx.json` file; JSON syntax errors become `BAD_VOICE_CONFIG`. */
export function parseVoiceConfigText(text: string, source: string): VoiceConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TtsError(
      'BAD_VOICE_CONFIG',
      `${source} is not valid JSON: ${(err as Error).message}`,
      {
        cause: err,
        details: { source },
      },
    );
  }
  return parseVoiceConfig(raw, source);
}
