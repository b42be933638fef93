/**
 * Text normalisation for what espeak-ng reads badly. espeak-ng already says numbers, ordinals,
 * decimals, percentages, times and most symbols well; this fills the gaps that are cheap to
 * fill: money ("$3.50" is "dollar three point five zero" to espeak), URLs and e-mail addresses,
 * abbreviations whose period would end a sentence, ISO dates, decades, negative numbers,
 * "#1", "10am", simple fractions and a few symbols. English voices only: other languages get
 * whitespace clean-up and are otherwise left to espeak-ng.
 */

const ONES = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
  'eleven',
  'twelve',
  'thirteen',
  'fourteen',
  'fifteen',
  'sixteen',
  'seventeen',
  'eighteen',
  'nineteen',
];
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** English words for 0..999999 (used where espeak-ng would read digits oddly). */
export function numberToWords(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 999_999) return String(n);
  if (n < 20) return ONES[n];
  if (n < 100) return TENS[Math.floor(n / 10)] + (n % 10 ? `-${ONES[n % 10]}` : '');
  if (n < 1000) {
    return `${ONES[Math.floor(n / 100)]} hundred${n % 100 ? ` ${numberToWords(n % 100)}` : ''}`;
  }
  return `${numberToWords(Math.floor(n / 1000))} thousand${n % 1000 ? ` ${numberToWords(n % 1000)}` : ''}`;
}

function pluralTens(word: string): string {
  // "ninety" -> "nineties", "twenty" -> "twenties", "ten" -> "tens", "hundred" -> "hundreds".
  return word.endsWith('y') ? `${word.slice(0, -1)}ies` : `${word}s`;
}

/** "1990s" -> "nineteen nineties", "2000s" -> "two thousands", "'80s" -> "eighties". */
function decade(century: string | undefined, tens: string): string {
  const t = Number(tens);
  if (century === undefined) return pluralTens(numberToWords(t));
  const c = Number(century);
  if (t === 0) {
    return c % 10 === 0 ? `${numberToWords(c / 10)} thousands` : `${numberToWords(c)} hundreds`;
  }
  return `${numberToWords(c)} ${pluralTens(numberToWords(t))}`;
}

const CURRENCIES: Record<string, { one: string; many: string; centOne: string; centMany: string }> =
  {
    $: { one: 'dollar', many: 'dollars', centOne: 'cent', centMany: 'cents' },
    '€': { one: 'euro', many: 'euros', centOne: 'cent', centMany: 'cents' },
    '£': { one: 'pound', many: 'pounds', centOne: 'penny', centMany: 'pence' },
    '¥': { one: 'yen', many: 'yen', centOne: 'sen', centMany: 'sen' },
  };
const SCALES: Record<string, string> = {
  thousand: 'thousand',
  k: 'thousand',
  million: 'million',
  m: 'million',
  mn: 'million',
  billion: 'billion',
  b: 'billion',
  bn: 'billion',
  trillion: 'trillion',
};

function money(
  symbol: string,
  whole: string,
  cents: string | undefined,
  scale: string | undefined,
): string {
  const c = CURRENCIES[symbol];
  const units = whole.replace(/,/gu, '');
  if (scale) {
    // "$2.5 million" -> "2.5 million dollars": espeak reads the decimal fine.
    return `${units}${cents ? `.${cents}` : ''} ${SCALES[scale.toLowerCase()]} ${c.many}`;
  }
  const n = Number(units);
  const centValue = cents === undefined ? 0 : Number(cents.padEnd(2, '0'));
  const main = `${units} ${n === 1 ? c.one : c.many}`;
  if (centValue === 0) return main;
  const centWords = `${centValue} ${centValue === 1 ? c.centOne : c.centMany}`;
  return n === 0 ? centWords : `${main} and ${centWords}`;
}

function speakHost(host: string): string {
  return host
    .split('.')
    .filter((p) => p.length > 0)
    .map((p) => p.replace(/[-_]/gu, ' '))
    .join(' dot ');
}

function speakUrl(url: string): string {
  let rest = url.replace(/^[a-z][a-z0-9+.-]*:\/\//iu, '').replace(/^www\./iu, '');
  rest = rest.replace(/[?#].*$/u, '');
  const [host, ...path] = rest.split('/');
  const segments = path
    .filter((p) => p.length > 0)
    .map((p) =>
      p
        .replace(/\.(html?|php|aspx?)$/iu, '')
        .replace(/[-_.+]/gu, ' ')
        .trim(),
    );
  return [speakHost(host.replace(/:\d+$/u, '')), ...segments].join(' slash ');
}

/** Abbreviation -> expansion, matched case-sensitively with the trailing period. */
const ABBREVIATIONS: Array<[RegExp, string | ((m: string, ...g: string[]) => string)]> = [
  [/\bMr\./gu, 'Mister'],
  [/\bMrs\./gu, 'Missus'],
  [/\bMs\./gu, 'Miz'],
  [/\bProf\./gu, 'Professor'],
  [/\bDr\.(?=\s+\p{Lu})/gu, 'Doctor'],
  [/\bDr\./gu, 'Drive'],
  [/\bSt\.(?=\s+\p{Lu})/gu, 'Saint'],
  [/\bSt\./gu, 'Street'],
  [/\bMt\./gu, 'Mount'],
  [/\bJr\./gu, 'Junior'],
  [/\bSr\./gu, 'Senior'],
  [/\bGen\./gu, 'General'],
  [/\bCapt\./gu, 'Captain'],
  [/\bLt\./gu, 'Lieutenant'],
  [/\bSgt\./gu, 'Sergeant'],
  [/\bRev\./gu, 'Reverend'],
  [/\bAve\./gu, 'Avenue'],
  [/\bRd\./gu, 'Road'],
  [/\bBlvd\./gu, 'Boulevard'],
  [/\bDept\./gu, 'Department'],
  [/\bInc\./gu, 'Incorporated'],
  [/\bLtd\./gu, 'Limited'],
  [/\bCorp\./gu, 'Corporation'],
  [/\bCo\./gu, 'Company'],
  [/\bFig\./gu, 'Figure'],
  [/\b[Nn]o\.(?=\s*\d)/gu, 'number'],
  [/\b[Nn]os\.(?=\s*\d)/gu, 'numbers'],
  [/\bapprox\./giu, 'approximately'],
  [/\be\.\s?g\.(?!\w)/giu, 'for example'],
  [/\bi\.\s?e\.(?!\w)/giu, 'that is'],
  [/\betc\./giu, 'et cetera'],
  [/\bvs\.?(?=\s)/giu, 'versus'],
  [/\bcf\./giu, 'compare'],
  [
    /\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.(?=\s*\d)/gu,
    (_m, mon: string) => {
      const idx = [
        'Jan',
        'Feb',
        'Mar',
        'Apr',
        'May',
        'Jun',
        'Jul',
        'Aug',
        'Sep',
        'Oct',
        'Nov',
        'Dec',
      ].indexOf(mon.slice(0, 3));
      return MONTHS[idx];
    },
  ],
];

function isEnglish(language: string): boolean {
  return /^en(\b|[-_])/iu.test(language) || language.toLowerCase() === 'en';
}

/**
 * Normalises one sentence for a voice whose espeak-ng language is `language` (e.g. `en-us`).
 * Keeps sentence-final punctuation: an abbreviation's period at the very end survives its
 * expansion ("… and so on, etc." -> "… and so on, et cetera.").
 */
export function normalizeText(text: string, language: string): string {
  // Control characters would reach espeak-ng's stdin protocol; they carry nothing speakable.
  // eslint-disable-next-line no-control-regex
  let s = text.replace(/[\u0000-\u001f\u007f]/gu, ' ');
  if (!isEnglish(language)) return s.replace(/\s+/gu, ' ').trim();

  // URLs and e-mail addresses first: their dots and slashes must not reach the rules below.
  s = s.replace(/\b(?:https?:\/\/|www\.)[^\s<>"'“”]+/giu, (url) => {
    const trail = /[.,;:!?)\]]+$/u.exec(url)?.[0] ?? '';
    return speakUrl(url.slice(0, url.length - trail.length)) + trail;
  });
  s = s.replace(
    /\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\b/gu,
    (_m, user: string, host: string) =>
      `${user.replace(/[._]/gu, (c) => (c === '.' ? ' dot ' : ' underscore '))} at ${speakHost(host)}`,
  );

  // Money.
  s = s.replace(
    /([$€£¥])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?:\s?(thousand|million|billion|trillion|bn|mn|[kKmMbB])\b)?/gu,
    (_m, sym: string, whole: string, cents: string | undefined, scale: string | undefined) =>
      money(sym, whole, cents, scale),
  );

  // ISO dates: 2024-01-05 -> January 5th 2024.
  s = s.replace(
    /\b(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])\b/gu,
    (_m, y: string, mo: string, d: string) => {
      const day = Number(d);
      const suffix =
        day % 10 === 1 && day !== 11
          ? 'st'
          : day % 10 === 2 && day !== 12
            ? 'nd'
            : day % 10 === 3 && day !== 13
              ? 'rd'
              : 'th';
      return `${MONTHS[Number(mo) - 1]} ${day}${suffix} ${y}`;
    },
  );

  // Decades: 1990s, '80s.
  s = s.replace(/\b(\d{2})(\d)0s\b/gu, (_m, c: string, t: string) => decade(c, `${t}0`));
  s = s.replace(
    /(^|\s)['’](\d)0s\b/gu,
    (_m, pre: string, t: string) => `${pre}${decade(undefined, `${t}0`)}`,
  );

  // 10am, 10 a.m., 10:30 p.m. -> "10 AM" (espeak says "AM" well only after a number).
  s = s.replace(
    /(\d)\s?([ap])\.?\s?m\.?(?=[\s,;:!?)]|$)/giu,
    (_m, d: string, ap: string) => `${d} ${ap.toUpperCase()}M`,
  );

  for (const [re, replacement] of ABBREVIATIONS) {
    s = s.replace(re, (...args: unknown[]) => {
      const match = args[0] as string;
      const offset = args[args.length - 2] as number;
      const whole = args[args.length - 1] as string;
      const expanded =
        typeof replacement === 'string'
          ? replacement
          : replacement(match, ...(args.slice(1, -2) as string[]));
      // The abbreviation's period also ended the sentence: keep one.
      const atEnd =
        match.endsWith('.') && /^["'”’)\]]*\s*$/u.test(whole.slice(offset + match.length));
      return atEnd ? `${expanded}.` : expanded;
    });
  }

  // Negative numbers, "#1", fractions and a few symbols espeak-ng reads literally.
  s = s.replace(/(^|[\s(])[-−](\d)/gu, '$1minus $2');
  s = s.replace(/(^|[\s(])#(\d)/gu, '$1number $2');
  s = s.replace(/(^|\s)1\/2(?=\s|$|[.,;:!?])/gu, '$1one half');
  s = s.replace(/(^|\s)1\/4(?=\s|$|[.,;:!?])/gu, '$1one quarter');
  s = s.replace(/(^|\s)3\/4(?=\s|$|[.,;:!?])/gu, '$1three quarters');
  s = s.replace(/°\s?C\b/gu, ' degrees Celsius');
  s = s.replace(/°\s?F\b/gu, ' degrees Fahrenheit');
  s = s.replace(/°/gu, ' degrees');
  // Ranges: "10–20" (en dash) and year ranges "1990-2000" read "to", not "dash".
  s = s.replace(/(\d)\s?–\s?(\d)/gu, '$1 to $2');
  s = s.replace(/\b((?:1[5-9]|20)\d\d)-((?:1[5-9]|20)\d\d)\b/gu, '$1 to $2');

  return s.replace(/\s+/gu, ' ').trim();
}
