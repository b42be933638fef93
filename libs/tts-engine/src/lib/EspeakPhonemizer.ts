import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

import { ESPEAK_HELPER_GREETING, espeakHelperBinary } from './EspeakHelper';
import { splitClauses } from './SentenceSplitter';
import { TtsError } from './TtsError';
import { silentTtsLogger, type TtsLogger } from './TtsLogger';

/** Options of {@link EspeakPhonemizer.create}. */
export interface EspeakPhonemizerOptions {
  /** espeak-ng voice, e.g. `en-us` (a Piper config's `espeak.voice`). */
  voice: string;
  /**
   * espeak-ng executable. Default `espeak-ng` from `PATH`. Setting it means "phonemise with this
   * command": the library helper is not used then.
   */
  binary?: string;
  /**
   * How text becomes IPA. `true` (default): through the `parley-espeak-phonemes` helper
   * (libespeak-ng's `espeak_TextToPhonemes`, as Piper calls it, no audio synthesised), built on
   * first use; the `espeak-ng` command when it cannot be built. `false`: always the command.
   * A string: the helper binary at that path.
   */
  helper?: boolean | string;
  /** Where a built helper is cached (see {@link espeakHelperBinary}). */
  helperCacheDir?: string;
  /** Directory containing `espeak-ng-data` (espeak-ng `--path`), when not the system one. */
  dataPath?: string;
  /** A request that takes longer kills and restarts the process. Default 10 s. */
  timeoutMs?: number;
  /** Logger for restarts and failures. */
  logger?: TtsLogger;
}

// Written after every clause, it marks where that clause's output ends, however many lines
// espeak-ng split it into. It is espeak-ng phoneme input (`[[...]]`): consonants and glottal
// stops only, so espeak-ng synthesises next to nothing for it (a spelled-out nonsense word
// cost 1.8 ms per clause, this 0.1 ms), and its IPA `hʔhʔhʔ` is no text's pronunciation.
// Callers' text cannot contain it: `[[` and `]]` are removed from clauses.
const SENTINEL_TEXT = '[[h?h?h?]]';
// espeak-ng silently loses words when one input line grows past its clause buffer (measured:
// 99 of 400 words lost in a 2,700-character line); lines of <= 200 characters lose nothing.
const MAX_LINE_CHARS = 200;

interface Segment {
  resolve: (lines: string[]) => void;
  reject: (err: TtsError) => void;
  /** Helper mode: answer lines still due (one per line written). */
  remaining: number;
  lines: string[];
}

/** How a phonemizer talks to espeak-ng. */
export type EspeakMode = 'library' | 'command';

/** Splits clause text into lines espeak-ng reads whole, cutting at spaces where possible. */
function toLines(text: string): string[] {
  const clean = text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]/gu, ' ')
    .replace(/\[\[|\]\]/gu, ' ')
    .replace(/\s+/gu, ' ')
    .trim();
  const lines: string[] = [];
  let rest = clean;
  while (rest.length > MAX_LINE_CHARS) {
    let cut = rest.lastIndexOf(' ', MAX_LINE_CHARS);
    if (cut <= 0) cut = MAX_LINE_CHARS;
    lines.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trim();
  }
  lines.push(rest);
  return lines;
}

/**
 * Text to IPA with one long-lived espeak-ng process per voice, as Piper does with libespeak-ng:
 * clauses go in one per line, and the punctuation espeak-ng drops is put back (`. ? !` as is,
 * `, : ;` followed by a space). Two back ends with the same protocol shape:
 *
 * - `library` (default): the `parley-espeak-phonemes` helper calls `espeak_TextToPhonemes`, the
 *   function Piper's phonemizer calls. It answers every line with exactly one line, in ~0.1 ms
 *   per sentence.
 * - `command`: `espeak-ng -q --ipa -v <voice>`, which synthesises (and discards) the audio of
 *   everything it phonemises — ~3 ms per sentence, 97 % of it wave generation — and splits its
 *   output into lines of its own, so a sentinel clause marks where each request ends. Used when
 *   the helper cannot be built, or when asked for.
 *
 * The two agree on the IPA of almost every clause; where they differ (a one-word clause keeps its
 * stress on the command; the command reads some capitalised words as words where the library
 * spells them), the library gives what Piper's own call gives. Requests are pipelined through
 * the process in FIFO order; a crash or timeout fails the requests in flight with
 * `PHONEMIZER_FAILED` and the next request starts a fresh process.
 */
export class EspeakPhonemizer {
  readonly voice: string;
  readonly #binary: string;
  readonly #helperOption: boolean | string;
  readonly #helperCacheDir?: string;
  #helper?: string;
  readonly #dataPath?: string;
  readonly #timeoutMs: number;
  readonly #logger: TtsLogger;
  #proc?: ChildProcessWithoutNullStreams;
  #starting?: Promise<void>;
  #sentinel?: string;
  #partial = '';
  #lines: string[] = [];
  #segments: Segment[] = [];
  #stderr = '';
  #closed = false;
  #calibration?: { lines: string[]; done: (err?: TtsError) => void };

  private constructor(options: EspeakPhonemizerOptions) {
    this.voice = options.voice;
    this.#binary = options.binary ?? 'espeak-ng';
    this.#helperOption = options.binary !== undefined ? false : (options.helper ?? true);
    this.#helperCacheDir = options.helperCacheDir;
    this.#dataPath = options.dataPath;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#logger = options.logger ?? silentTtsLogger;
  }

  /**
   * Starts espeak-ng for a voice and checks that it answers. Rejects with `PHONEMIZER_FAILED`
   * when espeak-ng is missing and `BAD_VOICE_CONFIG` when it has no such voice.
   */
  static async create(options: EspeakPhonemizerOptions): Promise<EspeakPhonemizer> {
    const phonemizer = new EspeakPhonemizer(options);
    const helper = phonemizer.#helperOption;
    if (typeof helper === 'string') phonemizer.#helper = helper;
    else if (helper) {
      phonemizer.#helper = await espeakHelperBinary({
        cacheDir: phonemizer.#helperCacheDir,
        logger: phonemizer.#logger,
      });
    }
    try {
      await phonemizer.#ensureStarted();
    } catch (err) {
      // A built helper that does not run here (say, copied from another machine) is no reason
      // to refuse the voice: the command phonemises too. A voice espeak-ng lacks stays an error.
      if (!(err instanceof TtsError) || err.code !== 'PHONEMIZER_FAILED' || !phonemizer.#helper)
        throw err;
      phonemizer.#logger.warn(
        'EspeakPhonemizer.create() | helper failed, using the espeak-ng command',
        {
          voice: phonemizer.voice,
          helper: phonemizer.#helper,
          error: err.message,
        },
      );
      phonemizer.#helper = undefined;
      await phonemizer.#ensureStarted();
    }
    phonemizer.#logger.info('EspeakPhonemizer.create() | espeak-ng ready', {
      voice: phonemizer.voice,
      mode: phonemizer.mode,
      binary: phonemizer.#helper ?? phonemizer.#binary,
    });
    return phonemizer;
  }

  /** `library` (the helper around `espeak_TextToPhonemes`) or `command` (`espeak-ng --ipa`). */
  get mode(): EspeakMode {
    return this.#helper ? 'library' : 'command';
  }

  /** Process id of the running espeak-ng (helper or command), if one runs. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * IPA for each clause text (punctuation not included), in order. Language-switch flags such
   * as `(fr)` are removed, as Piper removes them.
   */
  async phonemizeClauses(clauses: readonly string[]): Promise<string[]> {
    if (this.#closed) throw new TtsError('CLOSED', 'phonemizer closed');
    if (clauses.length === 0) return [];
    await this.#ensureStarted();
    const proc = this.#proc as ChildProcessWithoutNullStreams;
    const library = !!this.#helper;
    let input = '';
    const promises = clauses.map(
      (clause) =>
        new Promise<string[]>((resolve, reject) => {
          const lines = toLines(clause);
          this.#segments.push({ resolve, reject, remaining: lines.length, lines: [] });
          input += library ? `${lines.join('\n')}\n` : `${lines.join('\n')}\n${SENTINEL_TEXT}\n`;
        }),
    );
    // One write (one pipe wake-up of the helper) for all the clauses of a request.
    proc.stdin.write(input);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new TtsError(
          'PHONEMIZER_FAILED',
          `espeak-ng did not answer within ${this.#timeoutMs} ms`,
        );
        this.#logger.warn('phonemizeClauses() | espeak-ng timed out, restarting it', {
          voice: this.voice,
        });
        this.#fail(err);
        reject(err);
      }, this.#timeoutMs);
    });
    try {
      const outputs = await Promise.race([Promise.all(promises), timeout]);
      return outputs.map((lines) =>
        lines
          .join(' ')
          .replace(/\([^)]*\)/gu, '')
          .replace(/\s+/gu, ' ')
          .trim(),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * IPA for one sentence with Piper's punctuation: `həlˈoʊ, wˈɜːld.` for "Hello, world."
   */
  async phonemizeSentence(sentence: string): Promise<string> {
    const clauses = splitClauses(sentence);
    const ipa = await this.phonemizeClauses(clauses.map((c) => c.text));
    let out = '';
    clauses.forEach((clause, i) => {
      out += ipa[i] + clause.terminator;
      if (clause.terminator === ',' || clause.terminator === ':' || clause.terminator === ';')
        out += ' ';
    });
    return out;
  }

  /** Stops espeak-ng; requests in flight fail with `CLOSED`. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(new TtsError('CLOSED', 'phonemizer closed'));
  }

  async #ensureStarted(): Promise<void> {
    if (this.#proc && this.#sentinel) return;
    if (!this.#starting) {
      this.#starting = this.#start().finally(() => {
        this.#starting = undefined;
      });
    }
    await this.#starting;
  }

  #start(): Promise<void> {
    const helper = this.#helper;
    const command = helper ?? this.#binary;
    // -z: no sentence-final pause, which espeak-ng would otherwise synthesise for every line.
    const args = helper
      ? [this.voice, ...(this.#dataPath ? [this.#dataPath] : [])]
      : ['-q', '--ipa', '-z', '-b', '1', '-v', this.voice];
    if (!helper && this.#dataPath) args.push('--path', this.#dataPath);
    this.#partial = '';
    this.#lines = [];
    this.#stderr = '';
    this.#sentinel = undefined;
    return new Promise<void>((resolve, reject) => {
      let proc: ChildProcessWithoutNullStreams;
      try {
        proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (err) {
        reject(
          new TtsError('PHONEMIZER_FAILED', `cannot start ${command}: ${(err as Error).message}`, {
            cause: err,
          }),
        );
        return;
      }
      this.#proc = proc;
      const timer = setTimeout(() => {
        this.#calibration?.done(
          new TtsError(
            'PHONEMIZER_FAILED',
            `${command} did not start within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      this.#calibration = {
        lines: [],
        done: (err) => {
          clearTimeout(timer);
          this.#calibration = undefined;
          if (err) {
            if (this.#proc === proc) this.#proc = undefined;
            this.#kill(proc);
            reject(err);
          } else resolve();
        },
      };
      proc.stdout.setEncoding('utf8');
      proc.stderr.setEncoding('utf8');
      proc.stdout.on('data', (data: string) => this.#onData(data));
      proc.stderr.on('data', (data: string) => {
        this.#stderr = (this.#stderr + data).slice(-2000);
      });
      proc.stdin.on('error', () => undefined); // EPIPE after a crash; reported by 'exit'.
      proc.on('error', (err) => {
        const e = new TtsError('PHONEMIZER_FAILED', `cannot run ${command}: ${err.message}`, {
          cause: err,
        });
        if (this.#calibration) this.#calibration.done(e);
        else this.#onExit(proc, e);
      });
      proc.on('exit', (code, signal) => {
        const stderr = this.#stderr.trim();
        const noVoice = /does not exist|Failed to read voice/iu.test(stderr);
        const e = noVoice
          ? new TtsError('BAD_VOICE_CONFIG', `espeak-ng has no voice "${this.voice}": ${stderr}`)
          : new TtsError(
              'PHONEMIZER_FAILED',
              `espeak-ng exited (code ${code}, signal ${signal})${stderr ? `: ${stderr}` : ''}`,
            );
        if (this.#calibration) this.#calibration.done(e);
        else this.#onExit(proc, e);
      });
      // Calibrate. Helper: its greeting says espeak-ng is up with this voice. Command: the
      // sentinel's IPA, twice, must come back identical and non-empty.
      if (!helper) proc.stdin.write(`${SENTINEL_TEXT}\n${SENTINEL_TEXT}\n`);
    });
  }

  #onData(data: string): void {
    this.#partial += data;
    let nl = this.#partial.indexOf('\n');
    while (nl >= 0) {
      const line = this.#partial.slice(0, nl);
      this.#partial = this.#partial.slice(nl + 1);
      this.#onLine(line.trim());
      nl = this.#partial.indexOf('\n');
    }
  }

  #onLine(line: string): void {
    const calibration = this.#calibration;
    if (calibration && this.#helper) {
      if (line.startsWith(ESPEAK_HELPER_GREETING)) {
        this.#sentinel = line;
        calibration.done();
      } else {
        calibration.done(
          new TtsError('PHONEMIZER_FAILED', `espeak-ng helper answered unexpectedly: ${line}`),
        );
      }
      return;
    }
    if (calibration) {
      calibration.lines.push(line);
      if (calibration.lines.length === 2) {
        const [a, b] = calibration.lines;
        if (a && a === b) {
          this.#sentinel = a;
          calibration.done();
        } else {
          calibration.done(
            new TtsError(
              'PHONEMIZER_FAILED',
              `espeak-ng answered unexpectedly: ${JSON.stringify(calibration.lines)}`,
            ),
          );
        }
      }
      return;
    }
    if (this.#helper) {
      const segment = this.#segments[0];
      if (!segment) return;
      if (line.length > 0) segment.lines.push(line);
      if (--segment.remaining === 0) {
        this.#segments.shift();
        segment.resolve(segment.lines);
      }
      return;
    }
    if (line === this.#sentinel) {
      const lines = this.#lines;
      this.#lines = [];
      this.#segments.shift()?.resolve(lines);
      return;
    }
    if (line.length > 0) this.#lines.push(line);
  }

  #onExit(proc: ChildProcessWithoutNullStreams, err: TtsError): void {
    if (this.#proc !== proc) return;
    if (!this.#closed)
      this.#logger.warn('espeak-ng exited, will restart on next request', {
        voice: this.voice,
        error: err.message,
      });
    this.#proc = undefined;
    this.#sentinel = undefined;
    for (const s of this.#segments.splice(0)) s.reject(err);
  }

  #fail(err: TtsError): void {
    const proc = this.#proc;
    this.#proc = undefined;
    this.#sentinel = undefined;
    for (const s of this.#segments.splice(0)) s.reject(err);
    if (proc) this.#kill(proc);
  }

  #kill(proc: ChildProcessWithoutNullStreams): void {
    proc.stdin.end();
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
}
