import type { VoiceConfig } from './VoiceConfig';

/** Piper's padding symbol, written after every phoneme (and after BOS). */
export const PAD = '_';
/** Piper's beginning-of-sentence symbol. */
export const BOS = '^';
/** Piper's end-of-sentence symbol. */
export const EOS = '$';

/** The result of mapping one sentence's phonemes to model ids. */
export interface PhonemeIdResult {
  /** `^ _ p1 _ p2 _ … pn _ $`, as piper-phonemize and piper1 build them. */
  ids: number[];
  /** Phonemes absent from the voice's id map, with counts; Piper skips them too. */
  missing: Map<string, number>;
}

/**
 * Splits an IPA string into Piper phonemes: NFD codepoints (so `ç` becomes `c` + combining
 * cedilla, each with its own id), rewritten by the voice's `phoneme_map` and merged into the
 * voice's vowel clusters, exactly as Piper does before id mapping.
 */
export function splitPhonemes(
  ipa: string,
  config: Pick<VoiceConfig, 'phonemeMap' | 'clusters'>,
): string[] {
  let phonemes = [...ipa.normalize('NFD')];
  if (config.phonemeMap.size > 0) {
    phonemes = phonemes.flatMap((p) => config.phonemeMap.get(p) ?? [p]);
  }
  if (config.clusters.length === 0) return phonemes;
  const out: string[] = [];
  for (let i = 0; i < phonemes.length;) {
    const match = config.clusters.find((cluster) => {
      const parts = [...cluster];
      return parts.every((part, k) => phonemes[i + k] === part);
    });
    if (match) {
      out.push(match);
      i += [...match].length;
    } else {
      out.push(phonemes[i]);
      i += 1;
    }
  }
  return out;
}

/** Maps phonemes to ids: `^`, `_`, then each phoneme followed by `_`, then `$`. */
export function phonemesToIds(
  phonemes: readonly string[],
  config: Pick<VoiceConfig, 'phonemeIdMap'>,
): PhonemeIdResult {
  const map = config.phonemeIdMap;
  const pad = map.get(PAD) ?? [];
  const ids: number[] = [...(map.get(BOS) ?? []), ...pad];
  const missing = new Map<string, number>();
  for (const phoneme of phonemes) {
    const mapped = map.get(phoneme);
    if (!mapped) {
      missing.set(phoneme, (missing.get(phoneme) ?? 0) + 1);
      continue;
    }
    ids.push(...mapped, ...pad);
  }
  ids.push(...(map.get(EOS) ?? []));
  return { ids, missing };
}
