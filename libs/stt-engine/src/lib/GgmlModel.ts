import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { SttEngineError } from './SttEngineError';

/**
 * Vocabulary entry that marks the synthetic test model (written by
 * `scripts/setup/whisper-fixture.mjs`). Kept in sync with that script's `SYNTHETIC_MARKER`.
 */
export const SYNTHETIC_MODEL_MARKER = '<|parley-synthetic-random-weights|>';

/** The `ggml` magic of whisper.cpp's legacy model files. */
const GGML_MAGIC = 0x67676d6c;

/** Whisper's hyper-parameters as stored in the model file. */
export interface WhisperHparams {
  n_vocab: number;
  n_audio_ctx: number;
  n_audio_state: number;
  n_audio_head: number;
  n_audio_layer: number;
  n_text_ctx: number;
  n_text_state: number;
  n_text_head: number;
  n_text_layer: number;
  n_mels: number;
  /** Weight type (0 f32, 1 f16, others quantised), without the quantisation-version factor. */
  ftype: number;
}

/** What `readGgmlModelInfo` learns from a model file's header and vocabulary. */
export interface GgmlModelInfo {
  /** Absolute or caller-given path. */
  path: string;
  /** File size in bytes. */
  sizeBytes: number;
  /** Hyper-parameters. */
  hparams: WhisperHparams;
  /** Whisper size by encoder depth: tiny, base, small, medium, large (or unknown). */
  type: 'tiny' | 'base' | 'small' | 'medium' | 'large' | 'unknown';
  /** Multilingual models have n_vocab ≥ 51865; `*.en` models 51864. */
  multilingual: boolean;
  /** Number of languages the model knows (1 for English-only). */
  languageCount: number;
  /** Tokens stored in the file (whisper.cpp adds the special tokens up to n_vocab). */
  fileTokens: number;
  /** True for Parley's synthetic random-weights fixture: its text is meaningless. */
  synthetic: boolean;
}

const LAYERS_TO_TYPE: Record<number, GgmlModelInfo['type']> = {
  4: 'tiny',
  6: 'base',
  12: 'small',
  24: 'medium',
  32: 'large',
};

/** Sequential reader over a file descriptor with a growing window; enough for header + vocab. */
class HeaderReader {
  #buf: Buffer;
  #len = 0;
  #pos = 0;
  #eof = false;

  constructor(
    private readonly fd: number,
    initial = 1 << 20,
  ) {
    this.#buf = Buffer.alloc(initial);
  }

  get position(): number {
    return this.#pos;
  }

  #ensure(n: number): boolean {
    while (this.#len - this.#pos < n && !this.#eof) {
      if (this.#len === this.#buf.length) {
        const next = Buffer.alloc(this.#buf.length * 2);
        this.#buf.copy(next, 0, 0, this.#len);
        this.#buf = next;
      }
      const got = readSync(this.fd, this.#buf, this.#len, this.#buf.length - this.#len, this.#len);
      if (got === 0) this.#eof = true;
      this.#len += got;
    }
    return this.#len - this.#pos >= n;
  }

  int32(what: string): number {
    if (!this.#ensure(4)) throw truncated(what);
    const v = this.#buf.readInt32LE(this.#pos);
    this.#pos += 4;
    return v;
  }

  bytes(n: number, what: string): Buffer {
    if (!this.#ensure(n)) throw truncated(what);
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  skip(n: number, what: string): void {
    // Only the (small) mel filter block is skipped; reading it keeps the reader simple.
    this.bytes(n, what);
  }
}

function truncated(what: string): SttEngineError {
  return new SttEngineError('MODEL_INVALID', `model file is truncated (while reading ${what})`);
}

function invalid(message: string): SttEngineError {
  return new SttEngineError('MODEL_INVALID', message);
}

/**
 * Reads and validates a whisper.cpp ggml model's header, mel filters and vocabulary without loading
 * the weights (a few ms). Rejects — with `MODEL_NOT_FOUND` / `MODEL_INVALID` — the files that would
 * make whisper.cpp fail or abort the process (bad magic, implausible dimensions, a vocabulary
 * without the `" "` token, which whisper.cpp looks up with `map::at`).
 */
export function readGgmlModelInfo(path: string): GgmlModelInfo {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile())
      throw new SttEngineError('MODEL_NOT_FOUND', `model path is not a file: ${path}`);
    size = st.size;
  } catch (err) {
    if (err instanceof SttEngineError) throw err;
    throw new SttEngineError('MODEL_NOT_FOUND', `model file not found: ${path}`, { cause: err });
  }
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new SttEngineError('MODEL_NOT_FOUND', `model file cannot be opened: ${path}`, {
      cause: err,
    });
  }
  try {
    const r = new HeaderReader(fd);
    const magic = r.int32('magic') >>> 0;
    if (magic !== GGML_MAGIC) {
      throw invalid(
        `not a whisper.cpp ggml model (magic 0x${magic.toString(16)}; GGUF and PyTorch files are not supported): ${path}`,
      );
    }
    const h: WhisperHparams = {
      n_vocab: r.int32('n_vocab'),
      n_audio_ctx: r.int32('n_audio_ctx'),
      n_audio_state: r.int32('n_audio_state'),
      n_audio_head: r.int32('n_audio_head'),
      n_audio_layer: r.int32('n_audio_layer'),
      n_text_ctx: r.int32('n_text_ctx'),
      n_text_state: r.int32('n_text_state'),
      n_text_head: r.int32('n_text_head'),
      n_text_layer: r.int32('n_text_layer'),
      n_mels: r.int32('n_mels'),
      ftype: r.int32('ftype') % 1000,
    };
    if (!LAYERS_TO_TYPE[h.n_audio_layer]) {
      throw invalid(`unsupported encoder depth n_audio_layer=${h.n_audio_layer}`);
    }
    const dimsOk =
      h.n_vocab >= 51864 &&
      h.n_vocab <= 52000 &&
      h.n_audio_ctx === 1500 &&
      h.n_text_ctx > 0 &&
      h.n_text_ctx <= 4096 &&
      h.n_audio_state === h.n_text_state &&
      h.n_audio_state > 0 &&
      h.n_audio_head > 0 &&
      h.n_audio_state % h.n_audio_head === 0 &&
      h.n_text_head > 0 &&
      h.n_text_state % h.n_text_head === 0 &&
      h.n_text_layer > 0 &&
      h.n_text_layer <= 64 &&
      (h.n_mels === 80 || h.n_mels === 128) &&
      h.ftype >= 0 &&
      h.ftype <= 30;
    if (!dimsOk) throw invalid(`implausible whisper hyper-parameters ${JSON.stringify(h)}`);

    const nMel = r.int32('mel filter count');
    const nFft = r.int32('mel filter size');
    if (nMel !== h.n_mels || nFft <= 0 || nFft > 4096) {
      throw invalid(`bad mel filter shape ${nMel}×${nFft}`);
    }
    r.skip(nMel * nFft * 4, 'mel filters');

    const fileTokens = r.int32('vocabulary size');
    if (fileTokens <= 0 || fileTokens > h.n_vocab)
      throw invalid(`bad vocabulary size ${fileTokens}`);
    let hasSpace = false;
    let synthetic = false;
    for (let i = 0; i < fileTokens; i++) {
      const len = r.int32('vocabulary');
      if (len < 0 || len > 1024) throw invalid(`bad token length ${len} at vocabulary entry ${i}`);
      if (len === 1 || len === SYNTHETIC_MODEL_MARKER.length) {
        const tok = r.bytes(len, 'vocabulary');
        if (len === 1 && tok[0] === 0x20) hasSpace = true;
        else if (tok.toString('latin1') === SYNTHETIC_MODEL_MARKER) synthetic = true;
      } else {
        r.skip(len, 'vocabulary');
      }
    }
    if (!hasSpace) {
      throw invalid('vocabulary has no " " token (whisper.cpp would abort on it)');
    }
    if (r.position >= size) throw invalid('model file has no tensors');

    const multilingual = h.n_vocab >= 51865;
    return {
      path,
      sizeBytes: size,
      hparams: h,
      type: LAYERS_TO_TYPE[h.n_audio_layer] ?? 'unknown',
      multilingual,
      languageCount: multilingual ? h.n_vocab - 51765 - 1 : 1,
      fileTokens,
      synthetic,
    };
  } finally {
    closeSync(fd);
  }
}
