#!/usr/bin/env node
// `npm run models:fetch [whisper-tiny.en|whisper-base.en|piper-lessac-medium …]`: downloads real
// model weights with checksums into .parley/models (Whisper) and .parley/voices (Piper), where the
// internet is reachable. On a machine without it, it fails at once with a clear message; the test
// suite never needs these (it runs on generated fixtures).
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ROOT } from './bootstrap.mjs';

const HF = 'https://huggingface.co';
const MODELS = {
  'whisper-tiny.en': [
    {
      url: `${HF}/ggerganov/whisper.cpp/resolve/main/ggml-tiny.en.bin`,
      dir: 'models',
      file: 'ggml-tiny.en.bin',
      algo: 'sha1',
      digest: 'c78c86eb1a8faa21b369bcd33207cc90d64ae9df',
    },
  ],
  'whisper-base.en': [
    {
      url: `${HF}/ggerganov/whisper.cpp/resolve/main/ggml-base.en.bin`,
      dir: 'models',
      file: 'ggml-base.en.bin',
      algo: 'sha1',
      digest: '137c40403d78fd54d454da0f9bd998f78703390c',
    },
  ],
  'piper-lessac-medium': [
    {
      url: `${HF}/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/lessac/medium/en_US-lessac-medium.onnx`,
      dir: 'voices',
      file: 'en_US-lessac-medium.onnx',
      algo: 'md5',
      digest: '2fc642b535197b6305c7c8f92dc8b24f',
    },
    {
      url: `${HF}/rhasspy/piper-voices/resolve/v1.0.0/en/en_US/lessac/medium/en_US-lessac-medium.onnx.json`,
      dir: 'voices',
      file: 'en_US-lessac-medium.onnx.json',
      algo: null,
      digest: null,
    },
  ],
};

function digestOf(path, algo) {
  return createHash(algo).update(readFileSync(path)).digest('hex');
}

async function fetchOne(item) {
  const dir = join(ROOT, '.parley', item.dir);
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, item.file);
  if (existsSync(dest) && (!item.algo || digestOf(dest, item.algo) === item.digest)) {
    console.log(`✓ ${item.file} already present`);
    return dest;
  }
  let res;
  try {
    res = await fetch(item.url, { signal: AbortSignal.timeout(20_000) });
  } catch (err) {
    throw new Error(
      `cannot reach ${new URL(item.url).host} (${err.cause?.code ?? err.message}): this machine has no internet access. Copy the file to ${dest} by hand, or set PARLEY_WHISPER_MODEL / PARLEY_PIPER_VOICE to a local path.`,
    );
  }
  if (!res.ok || !res.body) throw new Error(`${item.url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length') ?? 0);
  let got = 0;
  let last = 0;
  const tmp = `${dest}.part`;
  const body = Readable.fromWeb(res.body);
  body.on('data', (c) => {
    got += c.length;
    if (Date.now() - last > 500) {
      last = Date.now();
      process.stdout.write(
        `\r  ${item.file} ${(got / 1e6).toFixed(1)}${total ? ` / ${(total / 1e6).toFixed(1)}` : ''} MB`,
      );
    }
  });
  await pipeline(body, createWriteStream(tmp));
  process.stdout.write('\n');
  if (item.algo) {
    const d = digestOf(tmp, item.algo);
    if (d !== item.digest) {
      rmSync(tmp);
      throw new Error(`${item.file}: ${item.algo} ${d} does not match the expected ${item.digest}`);
    }
  }
  renameSync(tmp, dest);
  console.log(
    `✓ ${item.file} (${(statSync(dest).size / 1e6).toFixed(1)} MB${item.algo ? `, ${item.algo} verified` : ''})`,
  );
  return dest;
}

const wanted = process.argv.slice(2);
const names = wanted.length ? wanted : ['whisper-tiny.en', 'piper-lessac-medium'];
let failed = false;
for (const name of names) {
  const items = MODELS[name];
  if (!items) {
    console.error(`unknown model ${name}; known: ${Object.keys(MODELS).join(', ')}`);
    failed = true;
    continue;
  }
  try {
    const paths = [];
    for (const item of items) paths.push(await fetchOne(item));
    const main = paths[0];
    console.log(
      name.startsWith('whisper')
        ? `  use it: PARLEY_WHISPER_MODEL=${main}`
        : `  use it: PARLEY_PIPER_VOICE=${main}`,
    );
  } catch (err) {
    console.error(`✗ ${name}: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
