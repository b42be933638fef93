import { normalizeText, numberToWords } from './TextNormalizer';

const en = (text: string): string => normalizeText(text, 'en-us');

describe('normalizeText()', () => {
  it('speaks money as amounts with units and cents', () => {
    expect(en('It costs $3.50.')).toBe('It costs 3 dollars and 50 cents.');
    expect(en('Only $1 or £2.05 or €0.99')).toBe(
      'Only 1 dollar or 2 pounds and 5 pence or 99 cents',
    );
    expect(en('Raised $2.5 million and $1,200,000')).toBe(
      'Raised 2.5 million dollars and 1200000 dollars',
    );
    expect(en('$3.5 each')).toBe('3 dollars and 50 cents each');
  });

  it('reads URLs and e-mail addresses the way people say them', () => {
    expect(en('Go to https://www.example.com/docs/getting-started?x=1.')).toBe(
      'Go to example dot com slash docs slash getting started.',
    );
    expect(en('Mail jane.doe@mail.example.org now')).toBe(
      'Mail jane dot doe at mail dot example dot org now',
    );
  });

  it('expands abbreviations whose period would end a sentence, keeping a final period', () => {
    expect(en('Dr. Smith lives on Elm Dr. near St. Louis.')).toBe(
      'Doctor Smith lives on Elm Drive near Saint Louis.',
    );
    expect(en('Apples, pears, etc.')).toBe('Apples, pears, et cetera.');
    expect(en('Bring fruit, e.g. apples, i.e. food.')).toBe(
      'Bring fruit, for example apples, that is food.',
    );
    expect(en('Mr. and Mrs. Jones vs. Acme Inc. today')).toBe(
      'Mister and Missus Jones versus Acme Incorporated today',
    );
    expect(en('See No. 5 on Jan. 3')).toBe('See number 5 on January 3');
  });

  it('reads dates, decades, times, negatives, ranges and numbered items', () => {
    expect(en('Due 2024-01-05.')).toBe('Due January 5th 2024.');
    expect(en('In the 1990s and the 2000s and the 1800s and the ’80s')).toBe(
      'In the nineteen nineties and the two thousands and the eighteen hundreds and the eighties',
    );
    expect(en('Meet at 10am or 3 p.m.')).toBe('Meet at 10 AM or 3 PM');
    expect(en('It is -5 degrees, #1 in 1990-2000, pages 10–20.')).toBe(
      'It is minus 5 degrees, number 1 in 1990 to 2000, pages 10 to 20.',
    );
    expect(en('Add 1/2 cup at 20°C')).toBe('Add one half cup at 20 degrees Celsius');
  });

  it('leaves what espeak-ng already reads well alone', () => {
    expect(en('Pi is 3.14, 50% of 1,000 at 10:30 is the 1st')).toBe(
      'Pi is 3.14, 50% of 1,000 at 10:30 is the 1st',
    );
    expect(en('Phone 555-1234')).toBe('Phone 555-1234');
  });

  it('only cleans whitespace and control characters for non-English voices', () => {
    expect(normalizeText('Es kostet $3.50\u0007  heute.', 'de')).toBe('Es kostet $3.50 heute.');
  });
});

describe('numberToWords()', () => {
  it('writes English number words', () => {
    expect(numberToWords(0)).toBe('zero');
    expect(numberToWords(19)).toBe('nineteen');
    expect(numberToWords(42)).toBe('forty-two');
    expect(numberToWords(100)).toBe('one hundred');
    expect(numberToWords(2024)).toBe('two thousand twenty-four');
    expect(numberToWords(999999)).toBe(
      'nine hundred ninety-nine thousand nine hundred ninety-nine',
    );
  });
});
