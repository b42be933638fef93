import { type MsgHdrs, headers as natsHeaders } from 'nats';
import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** JSON to bytes. */
export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
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
