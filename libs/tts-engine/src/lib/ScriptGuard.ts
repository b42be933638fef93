import { TtsError } from './TtsError';

/**
 * What to do with characters the voice cannot speak (emoji, letters of scripts the voice's
 * language does not use, private-use and unassigned code points):
 *
 * - `error` (default): reject the whole request with `UNSPEAKABLE_TEXT`, before any audio.
 * - `drop`: remove them, report them in the result's `dropped` list, and speak the rest. If
 *   nothing speakable remains the request fails with `UNSPEAKABLE_TEXT`.
 *
 * espeak-ng would otherwise read emoji by their names ("grinning face") and spell foreign
 * letters one by one, which is never what a caller wants and never what Piper's voices were
 * trained on.
 */
export type UnspeakablePolicy = 'error' | 'drop';

/** One kind of character that was dropped (or rejected). */
export interface UnspeakableCharacter {
  /** The character (a whole emoji sequence counts as its first code point). */
  char: string;
  /** `U+1F600` style code point. */
  codePoint: string;
  /** How often it occurred. */
  count: number;
}

/** Result of {@link screenText}. */
export interface ScreenResult {
  /** The text with unspeakable characters removed (unchanged under `error`). */
  text: string;
  /** Unspeakable characters found, in order of first occurrence. */
  dropped: UnspeakableCharacter[];
}

// Scripts a voice may read besides Latin (which espeak-ng reads in every language), by the
// language part of the espeak-ng voice name. Unknown languages accept every script.
const SCRIPTS_BY_LANGUAGE: Record<string, string[]> = {
  ru: ['Cyrillic'],
  uk: ['Cyrillic'],
  be: ['Cyrillic'],
  bg: ['Cyrillic'],
  mk: ['Cyrillic'],
  sr: ['Cyrillic'],
  kk: ['Cyrillic'],
  ky: ['Cyrillic'],
  mn: ['Cyrillic'],
  tt: ['Cyrillic'],
  ba: ['Cyrillic'],
  cv: ['Cyrillic'],
  el: ['Greek'],
  grc: ['Greek'],
  ka: ['Georgian'],
  hy: ['Armenian'],
  hyw: ['Armenian'],
  ar: ['Arabic'],
  fa: ['Arabic'],
  ur: ['Arabic'],
  ps: ['Arabic'],
  sd: ['Arabic'],
  ug: ['Arabic'],
  he: ['Hebrew'],
  yi: ['Hebrew'],
  hi: ['Devanagari'],
  mr: ['Devanagari'],
  ne: ['Devanagari'],
  sa: ['Devanagari'],
  kok: ['Devanagari'],
  bn: ['Bengali'],
  as: ['Bengali'],
  bpy: ['Bengali'],
  pa: ['Gurmukhi'],
  gu: ['Gujarati'],
  or: ['Oriya'],
  ta: ['Tamil'],
  te: ['Telugu'],
  kn: ['Kannada'],
  ml: ['Malayalam'],
  si: ['Sinhala'],
  th: ['Thai'],
  lo: ['Lao'],
  my: ['Myanmar'],
  km: ['Khmer'],
  am: ['Ethiopic'],
  zh: ['Han', 'Bopomofo'],
  cmn: ['Han', 'Bopomofo'],
  yue: ['Han'],
  hak: ['Han'],
  ja: ['Han', 'Hiragana', 'Katakana'],
  ko: ['Hangul', 'Han'],
  chr: ['Cherokee'],
  iu: ['Canadian_Aboriginal'],
};

const LATIN_LANGUAGES_ONLY = new Set([
  'en',
  'de',
  'fr',
  'es',
  'it',
  'pt',
  'nl',
  'pl',
  'cs',
  'sk',
  'sl',
  'hr',
  'bs',
  'sv',
  'da',
  'nb',
  'no',
  'is',
  'fi',
  'et',
  'lv',
  'lt',
  'hu',
  'ro',
  'tr',
  'az',
  'vi',
  'ca',
  'eu',
  'gl',
  'cy',
  'ga',
  'gd',
  'lb',
  'sq',
  'mt',
  'sw',
  'id',
  'ms',
  'tl',
  'af',
  'eo',
  'la',
  'ia',
  'io',
  'jbo',
  'qu',
  'uz',
  'tk',
  'ht',
  'haw',
  'mi',
  'om',
  'so',
  'yo',
  'ha',
  'ig',
  'an',
  'fo',
  'fy',
  'nci',
  'pap',
  'qya',
  'piqd',
  'py',
  'quc',
  'sjn',
  'smj',
  'lfn',
]);

// Symbols espeak-ng speaks sensibly although Unicode files them with emoji or "other symbols".
const SPEAKABLE_SYMBOLS = new Set([
  '©',
  '®',
  '™',
  '°',
  '№',
  '℃',
  '℉',
  '§',
  '¶',
  '†',
  '‡',
  '•',
  '…',
]);
// Invisible formatting that is silently removed (not reported): joiners, bidi marks, BOM,
// soft hyphen, variation selectors. They carry no sound on their own.
const INVISIBLE = /[\p{Cf}\u{FE00}-\u{FE0F}\u{E0100}-\u{E01EF}]/u;
const EMOJI = /[\p{Extended_Pictographic}\p{Regional_Indicator}\p{Emoji_Modifier}\u{20E3}]/u;

const scriptTests = new Map<string, RegExp>();
function scriptTest(script: string): RegExp {
  let re = scriptTests.get(script);
  if (!re) {
    re = new RegExp(`\\p{Script=${script}}`, 'u');
    scriptTests.set(script, re);
  }
  return re;
}

/** Scripts the espeak-ng voice reads, or `undefined` when every script is accepted. */
export function allowedScripts(espeakVoice: string): string[] | undefined {
  const language = espeakVoice.toLowerCase().split(/[-_]/u)[0];
  const extra = SCRIPTS_BY_LANGUAGE[language];
  if (extra) return ['Latin', ...extra];
  return LATIN_LANGUAGES_ONLY.has(language) ? ['Latin'] : undefined;
}

function isSpeakable(ch: string, scripts: RegExp[] | undefined): boolean {
  if (SPEAKABLE_SYMBOLS.has(ch)) return true;
  if (EMOJI.test(ch)) return false;
  if (/[\p{Co}\p{Cn}\p{Cs}]/u.test(ch)) return false;
  if (/\p{So}/u.test(ch)) return false;
  if (/[\p{L}\p{M}\p{N}]/u.test(ch)) {
    if (/\p{Script=Common}|\p{Script=Inherited}/u.test(ch)) return !/\p{L}/u.test(ch) || !scripts;
    return !scripts || scripts.some((re) => re.test(ch));
  }
  // Punctuation, spaces, currency, math and modifier symbols: espeak-ng handles or skips them.
  return true;
}

/**
 * Finds characters the voice cannot speak and applies the policy. Throws `UNSPEAKABLE_TEXT`
 * under `error` when any are found, and under either policy when nothing speakable remains.
 */
export function screenText(
  text: string,
  espeakVoice: string,
  policy: UnspeakablePolicy = 'error',
): ScreenResult {
  const scripts = allowedScripts(espeakVoice)?.map(scriptTest);
  const found = new Map<string, UnspeakableCharacter>();
  let out = '';
  for (const ch of text) {
    if (INVISIBLE.test(ch)) continue;
    if (isSpeakable(ch, scripts)) {
      out += ch;
      continue;
    }
    const entry = found.get(ch);
    if (entry) entry.count += 1;
    else {
      const codePoint = `U+${(ch.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
      found.set(ch, { char: ch, codePoint, count: 1 });
    }
    // Keep word boundaries: "hi😀there" must not become "hithere".
    out += ' ';
  }
  const dropped = [...found.values()];
  if (dropped.length > 0 && policy === 'error') {
    const list = dropped
      .slice(0, 8)
      .map((d) => `"${d.char}" (${d.codePoint})`)
      .join(', ');
    throw new TtsError(
      'UNSPEAKABLE_TEXT',
      `text contains ${dropped.length} kind(s) of character the voice (${espeakVoice}) cannot speak: ${list}` +
        `${dropped.length > 8 ? ', …' : ''}; remove them or ask for unspeakable: "drop"`,
      { details: { characters: dropped } },
    );
  }
  if (!/[\p{L}\p{N}]/u.test(out)) {
    throw new TtsError(
      'UNSPEAKABLE_TEXT',
      dropped.length > 0
        ? 'nothing speakable is left after dropping the characters the voice cannot speak'
        : 'text has no letters or digits to speak',
      { details: { characters: dropped } },
    );
  }
  return { text: out, dropped };
}
