import { SpeechEndMatcher } from './speech-end-matcher';

const burst = (startedAt: number, endedAt: number) => ({ startedAt, endedAt });

describe('SpeechEndMatcher', () => {
  describe('on the stream timeline (origin known)', () => {
    it('maps a final’s end to our clock and takes the local utterance ending nearest to it, even when several finished', () => {
      const m = new SpeechEndMatcher({ silenceMs: 400 });
      m.setOrigin(500);
      m.add(burst(7800, 11350));
      m.add(burst(14850, 18550));
      // A final of the first utterance, late: the second one has ended too. Server padding puts
      // its end 450 ms after ours.
      expect(m.match({ receivedAt: 22_000, startMs: 7220, endMs: 11_300 })).toBe(11_350);
      // The anchor moved to what the match showed (11350 - 11300 = 50 -> median of 500 and 50).
      expect(m.match({ receivedAt: 28_000, startMs: 14_300, endMs: 18_300 })).toBe(18_550);
    });

    it('gives nothing for a final whose utterance the meter missed, instead of a neighbour', () => {
      const m = new SpeechEndMatcher();
      m.setOrigin(0);
      // The meter started late: the first utterance (0.2..4.2 s) was never recorded.
      m.add(burst(7800, 11_350));
      expect(m.match({ receivedAt: 12_000, startMs: 180, endMs: 4160 })).toBeUndefined();
      expect(m.match({ receivedAt: 13_000, startMs: 7200, endMs: 11_500 })).toBe(11_350);
    });

    it('merges bursts closer than the silence into one utterance', () => {
      const m = new SpeechEndMatcher({ silenceMs: 400 });
      m.setOrigin(0);
      m.add(burst(1000, 1600));
      m.add(burst(1800, 2500));
      expect(m.match({ receivedAt: 3100, startMs: 800, endMs: 2650 })).toBe(2500);
    });

    it('does not match an utterance whose silence has not lasted long enough to be finalised', () => {
      const m = new SpeechEndMatcher({ silenceMs: 400 });
      m.setOrigin(0);
      m.add(burst(1000, 2000));
      expect(m.match({ receivedAt: 2300, startMs: 1000, endMs: 2000 })).toBeUndefined();
      expect(m.match({ receivedAt: 2450, startMs: 1000, endMs: 2000 })).toBe(2000);
    });

    it('drops a timeline that keeps missing (a restarted stream) and goes by order again', () => {
      const m = new SpeechEndMatcher({ silenceMs: 400 });
      m.setOrigin(0);
      m.add(burst(60_000, 61_000));
      for (let i = 0; i < 3; i++) {
        expect(m.match({ receivedAt: 62_000, startMs: 100, endMs: 1100 })).toBeUndefined();
      }
      expect(m.origin).toBeUndefined();
      expect(m.match({ receivedAt: 62_000, startMs: 100, endMs: 1100 })).toBe(61_000);
      // …and the match re-anchored it.
      expect(m.origin).toBe(59_900);
    });
  });

  describe('in order (no origin)', () => {
    it('gives finals their utterances in order, by duration', () => {
      const m = new SpeechEndMatcher({ silenceMs: 400 });
      m.add(burst(1000, 2500));
      m.add(burst(4000, 5000));
      expect(m.match({ receivedAt: 5600, startMs: 0, endMs: 1850 })).toBe(2500);
      const n = new SpeechEndMatcher({ silenceMs: 400 });
      n.add(burst(1000, 2500));
      n.add(burst(4000, 5000));
      expect(n.match({ receivedAt: 5600 })).toBe(2500);
      expect(n.match({ receivedAt: 6000 })).toBe(5000);
      expect(n.match({ receivedAt: 7000 })).toBeUndefined();
    });

    it('skips a noise burst the server did not transcribe, and matches a run of utterances the server heard as one', () => {
      const m = new SpeechEndMatcher();
      m.add(burst(0, 100)); // a click
      m.add(burst(1000, 2500));
      expect(m.match({ receivedAt: 3500, startMs: 0, endMs: 1700 })).toBe(2500);
      const n = new SpeechEndMatcher({ silenceMs: 400 });
      n.add(burst(0, 1000));
      n.add(burst(1500, 2500)); // 500 ms pause: two utterances here
      expect(n.match({ receivedAt: 7600, startMs: 0, endMs: 2700 })).toBe(2500);
    });

    it('with no fitting duration takes the closest', () => {
      const m = new SpeechEndMatcher();
      m.add(burst(0, 1000));
      m.add(burst(2000, 5000));
      expect(m.match({ receivedAt: 9000, startMs: 0, endMs: 9000 })).toBe(5000);
    });
  });

  it('forgets bursts beyond its horizon', () => {
    const m = new SpeechEndMatcher({ horizonMs: 10_000 });
    m.add(burst(0, 1000));
    m.add(burst(20_000, 21_000));
    expect(m.match({ receivedAt: 22_000 })).toBe(21_000);
    expect(m.match({ receivedAt: 22_000 })).toBeUndefined();
  });
});
