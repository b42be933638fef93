import { splitClauses, splitSentences } from './SentenceSplitter';

describe('splitSentences()', () => {
  it('firstMaxChars cuts a long first sentence after its first clause, and only the first', () => {
    const text = 'Thanks, noted item one. Later, the rest stays whole.';
    expect(splitSentences(text, { firstMaxChars: 16 })).toEqual([
      'Thanks,',
      'noted item one.',
      'Later, the rest stays whole.',
    ]);
    // Short enough, no clause within reach, or a clause too early: unchanged.
    expect(splitSentences('Hello, world.', { firstMaxChars: 16 })).toEqual(['Hello, world.']);
    expect(splitSentences('No clause in this long sentence.', { firstMaxChars: 16 })).toEqual([
      'No clause in this long sentence.',
    ]);
    expect(splitSentences('Yes, we can do that today.', { firstMaxChars: 16 })).toEqual([
      'Yes, we can do that today.',
    ]);
    expect(splitSentences(text)).toEqual([
      'Thanks, noted item one.',
      'Later, the rest stays whole.',
    ]);
  });

  it('splits at sentence punctuation followed by whitespace, keeping the punctuation', () => {
    expect(splitSentences('Hello there. How are you? I am fine! Great')).toEqual([
      'Hello there.',
      'How are you?',
      'I am fine!',
      'Great',
    ]);
  });

  it('does not split after titles, initials or non-final abbreviations', () => {
    expect(
      splitSentences('Dr. Smith met Mr. J. R. Jones at St. Mary church. Then they left.'),
    ).toEqual(['Dr. Smith met Mr. J. R. Jones at St. Mary church.', 'Then they left.']);
    expect(splitSentences('See No. 5 and Fig. 3 for details, e.g. this one. Next.')).toEqual([
      'See No. 5 and Fig. 3 for details, e.g. this one.',
      'Next.',
    ]);
  });

  it('survives decimals, versions, URLs and times', () => {
    expect(
      splitSentences('Pi is 3.14 and v2.0.1 is out. Visit example.com today. It is 10:30.'),
    ).toEqual(['Pi is 3.14 and v2.0.1 is out.', 'Visit example.com today.', 'It is 10:30.']);
  });

  it('keeps closing quotes with their sentence and does not split before a lower-case word', () => {
    expect(splitSentences('"Why?" he asked. "Because!" She left... and came back. End')).toEqual([
      '"Why?" he asked.',
      '"Because!"',
      'She left... and came back.',
      'End',
    ]);
  });

  it('splits an abbreviation that ends a sentence before a capitalised word', () => {
    expect(splitSentences('We met at 10 a.m. Then we had lunch.')).toEqual([
      'We met at 10 a.m.',
      'Then we had lunch.',
    ]);
  });

  it('treats blank lines as sentence boundaries and single newlines as spaces', () => {
    expect(splitSentences('Title without stop\n\nFirst line\ncontinues here.')).toEqual([
      'Title without stop',
      'First line continues here.',
    ]);
  });

  it('cuts an over-long sentence at clause punctuation, else at a space', () => {
    const long = `${'word '.repeat(30)}, ${'more '.repeat(30)}.`;
    const parts = splitSentences(long, { maxChars: 200 });
    expect(parts.length).toBe(2);
    expect(parts[0].endsWith(',')).toBe(true);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(200);
    const noPunct = splitSentences('abc '.repeat(100), { maxChars: 50 });
    expect(noPunct.every((p) => p.length <= 50)).toBe(true);
    expect(noPunct.join(' ').split(' ').length).toBe(100);
  });

  it('returns nothing for whitespace', () => {
    expect(splitSentences('  \n\n \t ')).toEqual([]);
  });
});

describe('splitClauses()', () => {
  it('splits at , ; : followed by whitespace and keeps the final terminator', () => {
    expect(splitClauses('Hello, world; yes: no.')).toEqual([
      { text: 'Hello', terminator: ',' },
      { text: 'world', terminator: ';' },
      { text: 'yes', terminator: ':' },
      { text: 'no', terminator: '.' },
    ]);
  });

  it('does not split inside numbers and times', () => {
    expect(splitClauses('It costs 1,000 at 10:30!')).toEqual([
      { text: 'It costs 1,000 at 10:30', terminator: '!' },
    ]);
  });

  it('uses the last mark of a punctuation run, counts an ellipsis as a period, and looks inside quotes', () => {
    expect(splitClauses('Really?!')).toEqual([{ text: 'Really', terminator: '!' }]);
    expect(splitClauses('Wait…')).toEqual([{ text: 'Wait', terminator: '.' }]);
    expect(splitClauses('He said "stop."')).toEqual([{ text: 'He said "stop"', terminator: '.' }]);
    expect(splitClauses('"Hi," she said')).toEqual([
      { text: '"Hi', terminator: ',' },
      { text: 'she said', terminator: '' },
    ]);
  });

  it('gives one unterminated clause for text without punctuation', () => {
    expect(splitClauses('no punctuation here')).toEqual([
      { text: 'no punctuation here', terminator: '' },
    ]);
  });
});
