import { render, timestamp } from './formats';

const t = {
  segments: [
    { t0: 0, t1: 1500, text: 'first', tokens: 3, confidence: 0.5 },
    { t0: 1500, t1: 3_723_456, text: 'second' },
  ],
  language: 'en',
  durationMs: 3_724_000,
};

describe('output formats', () => {
  it('timestamp() writes hh:mm:ss.mmm, with a comma for SRT', () => {
    expect(timestamp(0)).toBe('00:00:00.000');
    expect(timestamp(3_723_456)).toBe('01:02:03.456');
    expect(timestamp(3_723_456, true)).toBe('01:02:03,456');
  });

  it('json is whisper.cpp’s {"text"} with one line per segment', () => {
    const out = render(t, 'json');
    expect(out.contentType).toMatch(/^application\/json/);
    expect(JSON.parse(out.body)).toEqual({ text: 'first\nsecond\n' });
  });

  it('text is the plain lines', () => {
    expect(render(t, 'text')).toEqual({
      body: 'first\nsecond\n',
      contentType: 'text/plain; charset=utf-8',
    });
  });

  it('srt numbers cues from 1 with comma timestamps', () => {
    const out = render(t, 'srt');
    expect(out.contentType).toBe('application/x-subrip');
    expect(out.body).toBe(
      '1\n00:00:00,000 --> 00:00:01,500\nfirst\n\n2\n00:00:01,500 --> 01:02:03,456\nsecond\n\n',
    );
  });

  it('vtt starts with WEBVTT and uses dot timestamps', () => {
    const out = render(t, 'vtt');
    expect(out.contentType).toBe('text/vtt');
    expect(out.body).toBe(
      'WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nfirst\n\n00:00:01.500 --> 01:02:03.456\nsecond\n\n',
    );
  });

  it('verbose_json has task, language, duration and segments with start/end in seconds', () => {
    const v = JSON.parse(render({ ...t, translate: true, temperature: 0.2 }, 'verbose_json').body);
    expect(v).toMatchObject({ task: 'translate', language: 'en', duration: 3724 });
    expect(v.segments).toHaveLength(2);
    expect(v.segments[0]).toMatchObject({
      id: 0,
      text: 'first',
      start: 0,
      end: 1.5,
      temperature: 0.2,
    });
    expect(v.segments[0].avg_logprob).toBeCloseTo(Math.log(0.5), 6);
    expect(v.segments[1]).toMatchObject({ id: 1, start: 1.5, end: 3723.456 });
  });
});
