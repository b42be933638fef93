import type { SttResponseFormat, SttSegment } from '@parley/contracts';

/** What every output format is rendered from. */
export interface Transcript {
  segments: readonly SttSegment[];
  language: string;
  durationMs: number;
  translate?: boolean;
  temperature?: number;
}

/** A rendered response: body and content type. */
export interface Rendered {
  body: string;
  contentType: string;
}

/** `hh:mm:ss.mmm` (`,` before the milliseconds for SRT), as whisper.cpp's `to_timestamp`. */
export function timestamp(ms: number, comma = false): string {
  const total = Math.max(0, Math.round(ms));
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const s = Math.floor((total % 60_000) / 1000);
  const msec = total % 1000;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(h)}:${two(m)}:${two(s)}${comma ? ',' : '.'}${String(msec).padStart(3, '0')}`;
}

/** whisper.cpp's plain text: one line per segment. */
export function plainText(segments: readonly SttSegment[]): string {
  return segments.map((s) => `${s.text}\n`).join('');
}

/**
 * Renders a transcript as whisper.cpp's server does for `response_format`: `json` (`{"text"}`),
 * `text`, `srt`, `vtt`, `verbose_json` (OpenAI-style: task, language, duration, text and segments
 * with start/end in seconds).
 */
export function render(t: Transcript, format: SttResponseFormat): Rendered {
  switch (format) {
    case 'json':
      return { body: JSON.stringify({ text: plainText(t.segments) }), contentType: JSON_TYPE };
    case 'text':
      return { body: plainText(t.segments), contentType: 'text/plain; charset=utf-8' };
    case 'srt':
      return {
        body: t.segments
          .map(
            (s, i) =>
              `${i + 1}\n${timestamp(s.t0, true)} --> ${timestamp(s.t1, true)}\n${s.text}\n\n`,
          )
          .join(''),
        contentType: 'application/x-subrip',
      };
    case 'vtt':
      return {
        body: `WEBVTT\n\n${t.segments
          .map((s) => `${timestamp(s.t0)} --> ${timestamp(s.t1)}\n${s.text}\n\n`)
          .join('')}`,
        contentType: 'text/vtt',
      };
    case 'verbose_json':
      return {
        body: JSON.stringify({
          task: t.translate ? 'translate' : 'transcribe',
          language: t.language,
          duration: t.durationMs / 1000,
          text: plainText(t.segments),
          segments: t.segments.map((s, id) => ({
            id,
            text: s.text,
            start: s.t0 / 1000,
            end: s.t1 / 1000,
            temperature: t.temperature ?? 0,
            ...(s.confidence !== undefined && s.confidence > 0
              ? { avg_logprob: Math.log(s.confidence) }
              : {}),
            ...(s.tokens !== undefined ? { n_tokens: s.tokens } : {}),
          })),
        }),
        contentType: JSON_TYPE,
      };
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';
