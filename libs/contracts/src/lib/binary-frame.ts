import type { WireCodec } from './contract';

/**
 * A request as one binary frame instead of JSON: its bulk field (raw audio bytes) travels as-is
 * after a small JSON header holding every other field.
 *
 * ```
 * | header length n: uint32 big-endian | header: n bytes of UTF-8 JSON | bulk field: the rest |
 * ```
 *
 * Audio as base64 inside JSON costs 4/3 of its size on the wire and an encode, a JSON string scan
 * and a decode on every hop; a 4 s utterance (128 kB of PCM) took ~9.5 ms over NATS that way
 * against ~3.9 ms as raw bytes. The decoded value is still validated by the contract's schema.
 * No Node APIs here: the browser client imports the contracts too.
 */

/** A malformed frame; the server answers `BAD_REQUEST` with this message. */
export class FrameError extends Error {
  override readonly name = 'FrameError';
  readonly code = 'BAD_REQUEST';
}

/** Options of {@link binaryFrameCodec}. */
export interface BinaryFrameOptions {
  /** Largest header accepted, bytes (default 16 KiB). */
  maxHeaderBytes?: number;
  /** What the frame carries, for error messages (e.g. `16 kHz mono s16le PCM`). */
  describe?: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
const OPEN_BRACE = 0x7b;

/** Whether `v` is a Uint8Array (a Node Buffer is one), from any realm. */
export function isBytes(v: unknown): v is Uint8Array {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Uint8Array]';
}

/**
 * The codec of requests whose `field` (a `Uint8Array`) travels as raw bytes after a JSON header
 * of the other fields. `decode` throws {@link FrameError} for anything that is not such a frame:
 * too short, a JSON payload (an old or mistaken client), a header length past the end, a header
 * that is not a UTF-8 JSON object, or a header holding `field` itself.
 */
export function binaryFrameCodec(field: string, options: BinaryFrameOptions = {}): WireCodec {
  const maxHeader = options.maxHeaderBytes ?? 16 * 1024;
  const what = options.describe ? ` (${options.describe})` : '';
  const layout = `a 4-byte big-endian header length, a JSON header, then the ${field} bytes${what}`;
  return {
    encode(value: unknown): Uint8Array {
      const { [field]: bulk, ...rest } = value as Record<string, unknown>;
      if (!isBytes(bulk)) throw new FrameError(`${field} must be a Uint8Array`);
      const header = encoder.encode(JSON.stringify(rest));
      const out = new Uint8Array(4 + header.length + bulk.length);
      new DataView(out.buffer).setUint32(0, header.length, false);
      out.set(header, 4);
      out.set(bulk, 4 + header.length);
      return out;
    },
    decode(bytes: Uint8Array): unknown {
      if (bytes.length > 0 && bytes[0] === OPEN_BRACE) {
        throw new FrameError(`payload is JSON; this subject takes a binary frame: ${layout}`);
      }
      if (bytes.length < 4) {
        throw new FrameError(`payload of ${bytes.length} bytes is shorter than a frame: ${layout}`);
      }
      const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
      if (n > maxHeader) {
        throw new FrameError(`frame header length ${n} is over the ${maxHeader} bytes allowed`);
      }
      if (4 + n > bytes.length) {
        throw new FrameError(
          `frame header length ${n} runs past the end of the ${bytes.length}-byte payload`,
        );
      }
      let header: unknown;
      try {
        header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + n)));
      } catch {
        throw new FrameError('frame header is not UTF-8 JSON');
      }
      if (header === null || typeof header !== 'object' || Array.isArray(header)) {
        throw new FrameError('frame header is not a JSON object');
      }
      if (Object.prototype.hasOwnProperty.call(header, field)) {
        throw new FrameError(`frame header must not hold ${field}: it travels after the header`);
      }
      return { ...(header as Record<string, unknown>), [field]: bytes.subarray(4 + n) };
    },
  };
}
