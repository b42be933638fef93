/**
 * Sentence and clause splitting for streaming synthesis: each sentence becomes one audio chunk,
 * each clause one espeak-ng line whose punctuation is put back as Piper does.
 */

/** Titles that are never the end of a sentence ("Dr. Smith", "Mt. Everest"). */
const TITLES = new Set([
  'mr',
  'mrs',
  'ms',
  'mx',
  'dr',
  'prof',
  'st',
  'sr',
  'jr',
  'gen',
  'col',
  'capt',
  'cpt',
  'lt',
  'sgt',
  'rev',
  'hon',
  'mt',
  'ft',
  'fr',
  'pres',
  'gov',
  'sen',
  'rep',
  'supt',
  'messrs',
]);

/** Abbreviations that do not end a sentence before a lower-case word or a number. */
const NON_FINAL = new Set([
  'e.g',
  'i.e',
  'vs',
  'cf',
  'approx',
  'no',
  'nos',
  'fig',
  'figs',
  'vol',
  'vols',
  'pp',
  'p',
  'ch',
  'ca',
  'est',
  'dept',
  'univ',
  'jan',
  'feb',
  'mar',
  'apr',
  'jun',
  'jul',
  'aug',
  'sep',
  'sept',
  'oct',
  'nov',
  'dec',
  'mon',
  'tue',
  'tues',
  'wed',
  'thu',
  'thur',
  'thurs',
  'fri',
  'sat',
  'sun',
]);

const SENTENCE_END = /([.!?…]+)(["'”’)\]}»]*)(?=\s|$)/gu;

/** Options for {@link splitSentences}. */
export interface SplitSentencesOptions {
  /**
   * Longest sentence, in characters, before it is cut at a clause boundary (or a space): a
   * 1000-character sentence would otherwise hold back the first audio of a stream.
   * Default 400.
   */
  maxChars?: number;
  /**
   * Time to first audio: a first sentence longer than this is split at its first clause
   * boundary (`,` `;` `:` `—` followed by a space, at least 5 characters in), so a stream starts
   * with a short clause while the rest of the sentence is synthesised. Later sentences stay whole.
   * Default: off.
   */
  firstMaxChars?: number;
}

/** Splits a long first sentence after its first clause (see `firstMaxChars`). */
function cutFirstClause(sentence: string, firstMaxChars: number): string[] {
  if (sentence.length <= firstMaxChars) return [sentence];
  const clause = /[,;:—–](?=\s)/gu;
  for (let m = clause.exec(sentence); m; m = clause.exec(sentence)) {
    const cut = m.index + 1;
    if (cut < 5) continue;
    if (cut > firstMaxChars) break;
    return [sentence.slice(0, cut).trim(), sentence.slice(cut).trim()];
  }
  return [sentence];
}

function tokenBefore(text: string, index: number): string {
  let start = index;
  while (start > 0 && !/\s/u.test(text[start - 1])) start--;
  // Strip opening quotes/brackets: `("Dr.` -> `Dr`.
  return text.slice(start, index).replace(/^[("'“‘[{«]+/u, '');
}

function isBoundary(
  text: string,
  dotIndex: number,
  singlePeriod: boolean,
  afterIndex: number,
): boolean {
  const rest = text.slice(afterIndex);
  const next = rest.trimStart();
  if (next.length === 0) return true;
  const nextChar = next[0];
  // A lower-case continuation is never a new sentence ("e.g. this", "“Why?” he asked").
  if (/\p{Ll}/u.test(nextChar)) return false;
  if (!singlePeriod) return true;
  const token = tokenBefore(text, dotIndex);
  const lower = token.toLowerCase();
  if (TITLES.has(lower)) return false;
  // An initial: "J. R. R. Tolkien", "John F. Kennedy".
  if (/^\p{Lu}$/u.test(token)) return false;
  if (NON_FINAL.has(lower) && (/\p{N}/u.test(nextChar) || /\p{Ll}/u.test(nextChar))) return false;
  return true;
}

function cutLong(sentence: string, maxChars: number): string[] {
  const out: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const window = rest.slice(0, maxChars);
    // Prefer the last clause punctuation, then the last space, then a hard cut.
    let cut = -1;
    const clause = /[,;:—–](?=\s)/gu;
    for (let m = clause.exec(window); m; m = clause.exec(window)) cut = m.index + 1;
    if (cut < maxChars / 3) cut = window.lastIndexOf(' ');
    if (cut <= 0) cut = maxChars;
    out.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  if (rest.length > 0) out.push(rest);
  return out;
}

/**
 * Splits text into sentences. Boundaries are `.`, `!`, `?` and `…` (runs of them, with closing
 * quotes/brackets) followed by whitespace, and blank lines. A period is not a boundary after a
 * title ("Dr."), an initial ("J."), a non-final abbreviation before a number or lower-case word
 * ("No. 5", "e.g. this"), inside a number ("3.14") or inside a URL ("example.com").
 * Returns trimmed, non-empty sentences in order.
 */
export function splitSentences(text: string, options: SplitSentencesOptions = {}): string[] {
  const maxChars = options.maxChars ?? 400;
  const sentences: string[] = [];
  for (const paragraph of text.split(/\n[ \t\r]*\n/u)) {
    let start = 0;
    SENTENCE_END.lastIndex = 0;
    for (let m = SENTENCE_END.exec(paragraph); m; m = SENTENCE_END.exec(paragraph)) {
      const end = m.index + m[0].length;
      if (isBoundary(paragraph, m.index, m[1] === '.', end)) {
        sentences.push(paragraph.slice(start, end));
        start = end;
      }
    }
    sentences.push(paragraph.slice(start));
  }
  const out = sentences
    .map((s) => s.replace(/\s+/gu, ' ').trim())
    .filter((s) => s.length > 0)
    .flatMap((s) => (s.length > maxChars ? cutLong(s, maxChars) : [s]));
  if (options.firstMaxChars !== undefined && out.length > 0) {
    out.splice(0, 1, ...cutFirstClause(out[0] as string, options.firstMaxChars));
  }
  return out;
}

/** The punctuation Piper keeps as phonemes, from espeak-ng's clause terminators. */
export type ClauseTerminator = '' | '.' | '!' | '?' | ',' | ':' | ';';

/** One espeak-ng clause of a sentence. */
export interface Clause {
  /** Clause text without its terminator. */
  text: string;
  /** Punctuation that ended the clause; Piper appends it (plus a space for `, : ;`). */
  terminator: ClauseTerminator;
}

/**
 * Splits a sentence into clauses at `,` `;` `:` followed by whitespace (not "1,000" or
 * "10:30") and takes the sentence-final `.` `!` `?` `…` as the last clause's terminator.
 */
export function splitClauses(sentence: string): Clause[] {
  const clauses: Clause[] = [];
  let text = sentence.trim();
  // Sentence-final punctuation (possibly inside closing quotes): the last char decides, as
  // in piper-phonemize, and an ellipsis counts as a period.
  let final: ClauseTerminator = '';
  const tail = /([.!?…]+)([\s"'”’)\]}»]*)$/u.exec(text);
  if (tail) {
    const last = tail[1].at(-1) as string;
    final = last === '…' ? '.' : (last as ClauseTerminator);
    text = text.slice(0, tail.index) + tail[2].trimEnd();
  }
  const re = /([,;:])(["'”’)\]}»]*)(?=\s)/gu;
  let start = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    clauses.push({ text: text.slice(start, m.index).trim(), terminator: m[1] as ClauseTerminator });
    start = m.index + m[0].length;
  }
  clauses.push({ text: text.slice(start).trim(), terminator: final });
  // A clause with only punctuation/closers left keeps its terminator (Piper would too).
  return clauses.filter((c, i) => c.text.length > 0 || c.terminator !== '' || i === 0);
}
