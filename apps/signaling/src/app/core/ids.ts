import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let offset = POOL.length;

/**
 * `bytes` bytes from the CSPRNG as base64url. The bytes come from a pooled buffer refilled 4 KiB
 * at a time (each byte used once), instead of one CSPRNG call per id on the join path.
 */
export function randomId(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const id = POOL.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
