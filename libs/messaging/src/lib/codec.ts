import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { CORRELATION_HEADER, type TraceFields } from '@parley/observability';
import { type Match, type Msg, type MsgHdrs, MsgHdrsImpl, headers as natsHeaders } from 'nats';

const dec = new TextDecoder();

/** JSON to bytes. */
export function encodeJson(value: unknown): Uint8Array {
  // A small Buffer comes from Node's pool; TextEncoder allocates a fresh ArrayBuffer per call,
  // which costs several times more for the sizes messages have.
  // JSON.stringify(undefined) is undefined: encoded as no bytes, as TextEncoder did.
  return Buffer.from((JSON.stringify(value) as string | undefined) ?? '', 'utf8');
}

/** Bytes to JSON; throws SyntaxError on malformed input. */
export function decodeJson(data: Uint8Array): unknown {
  return JSON.parse(dec.decode(data));
}

/** OTel setter for NATS headers. */
export const natsHeaderSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** OTel getter for NATS headers (absent headers read as undefined). */
export const natsHeaderGetter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (carrier) => (carrier ? [...carrier.keys()] : []),
  get: (carrier, key) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

/** New empty NATS headers. */
export function newHeaders(): MsgHdrs {
  return natsHeaders();
}

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';

/**
 * Outgoing NATS headers holding trace fields. nats.js encodes headers by walking their map and
 * concatenating one line per value on every publish; these are encoded once from the line block
 * built with them. The map holds the same entries, so the object reads like any other MsgHdrs.
 */
class TraceFieldHeaders extends MsgHdrsImpl {
  // The encoded lines; undefined once the headers were changed through the MsgHdrs API.
  private block: string | undefined = '';

  add(key: string, value: string): void {
    this.headers.set(key, [value]);
    if (this.block !== undefined) this.block += `\r\n${key}: ${value}`;
  }

  override append(k: string, v: string, match?: Match): void {
    this.block = undefined;
    super.append(k, v, match);
  }

  override delete(k: string, match?: Match): void {
    this.block = undefined;
    super.delete(k, match);
  }

  override encode(): Uint8Array {
    // Same bytes as MsgHdrsImpl.toString(): version line, `key: value` lines, blank line.
    return this.block ? Buffer.from(`NATS/1.0${this.block}\r\n\r\n`, 'utf8') : super.encode();
  }
}

/**
 * NATS headers carrying trace fields (`traceparent`, `tracestate`, `x-correlation-id`). The values
 * were validated by `traceFields` (hex ids, printable ASCII, the correlation id pattern), so they
 * are not re-validated here as `MsgHdrs.set()` would on every message.
 */
export function traceHeaders(fields: TraceFields): MsgHdrs {
  const h = new TraceFieldHeaders();
  if (fields.traceparent) h.add(TRACEPARENT, fields.traceparent);
  if (fields.tracestate) h.add(TRACESTATE, fields.tracestate);
  if (fields.correlationId) h.add(CORRELATION_HEADER, fields.correlationId);
  return h;
}

/** Trace fields of received NATS headers (values unvalidated; see `contextFromTraceFields`). */
export function readTraceFields(headers: MsgHdrs | undefined): TraceFields {
  if (!headers) return {};
  return {
    traceparent: headerValue(headers, TRACEPARENT),
    tracestate: headerValue(headers, TRACESTATE),
    correlationId: headerValue(headers, CORRELATION_HEADER),
  };
}

/** First value of a header (exact key, as written), or undefined. */
function headerValue(headers: MsgHdrs, key: string): string | undefined {
  // MsgHdrsImpl.get() copies every key into an array to find one; its map answers directly.
  if (headers instanceof MsgHdrsImpl) return headers.headers.get(key)?.[0];
  return headers.has(key) ? headers.get(key) : undefined;
}

/** The parts of nats.js's MsgImpl that hold a received message's raw header block. */
interface RawMsg {
  _rdata?: unknown;
  _msg?: { hdr?: unknown };
  _headers?: unknown;
}

/**
 * Trace fields of a received message. When the message is nats.js's own MsgImpl, they are read
 * straight from its raw header block: `msg.headers` would build a MsgHdrs for every message (a
 * decode, a split, a canonicalised key and a validated value per header) only to read three
 * values. The result is the same as `readTraceFields(msg.headers)`: the first value of each exact
 * key, trimmed. Any other Msg, or a nats.js whose internals differ, takes that path instead.
 */
export function traceFieldsOf(msg: Msg): TraceFields {
  const raw = msg as unknown as RawMsg;
  const hdr = raw._msg?.hdr;
  if (raw._headers !== undefined || typeof hdr !== 'number' || !(raw._rdata instanceof Uint8Array))
    return readTraceFields(msg.headers);
  if (hdr < 0) return {};
  return parseTraceFields(dec.decode(raw._rdata.subarray(0, hdr)));
}

/** Trace fields of a NATS header block (`NATS/1.0…\r\nkey: value\r\n…`), as MsgHdrsImpl reads it. */
export function parseTraceFields(block: string): TraceFields {
  const out: TraceFields = {};
  // The first line is the version and status; each following line is `key: value`.
  let lineEnd = block.indexOf('\r\n');
  while (lineEnd !== -1) {
    const start = lineEnd + 2;
    lineEnd = block.indexOf('\r\n', start);
    const end = lineEnd === -1 ? block.length : lineEnd;
    const colon = block.indexOf(':', start);
    if (colon === -1 || colon >= end) continue;
    const key = block.slice(start, colon);
    if (key === TRACEPARENT) out.traceparent ??= block.slice(colon + 1, end).trim();
    else if (key === TRACESTATE) out.tracestate ??= block.slice(colon + 1, end).trim();
    else if (key === CORRELATION_HEADER) out.correlationId ??= block.slice(colon + 1, end).trim();
  }
  return out;
}

const TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** Appends validated tokens (room ids, job ids) to a subject; rejects dots, spaces and wildcards. */
export function subjectWith(
  base: string,
  tokens: readonly string[] = [],
  allowWildcards = false,
): string {
  for (const t of tokens) {
    if (allowWildcards && (t === '*' || t === '>')) continue;
    if (!TOKEN.test(t)) throw new Error(`invalid subject token ${JSON.stringify(t)}`);
  }
  return tokens.length ? `${base}.${tokens.join('.')}` : base;
}
