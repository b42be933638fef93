#!/usr/bin/env node
// `npm start`: bootstrap, then every service in one terminal with readable interleaved logs, then
// the URL of the demo page. Ctrl-C stops the services and whatever the bootstrap started.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, bootstrap, log } from './bootstrap.mjs';

const SERVICES = [
  { name: 'sfu', port: 'SFU_HTTP_PORT', def: 8081, color: 35 },
  { name: 'stt-worker', port: 'STT_WORKER_HTTP_PORT', def: 8083, color: 33 },
  { name: 'stt', port: 'STT_HTTP_PORT', def: 8082, color: 32 },
  { name: 'tts', port: 'TTS_HTTP_PORT', def: 8084, color: 34 },
  { name: 'signaling', port: 'SIGNALING_HTTP_PORT', def: 8080, color: 36 },
];
const tty = process.stdout.isTTY;
const paint = (c, s) => (tty ? `\x1b[${c}m${s}\x1b[0m` : s);
const LEVEL_COLOR = { error: 31, warn: 33, info: 0, http: 2, debug: 2 };
const width = Math.max(...SERVICES.map((s) => s.name.length));

/** One JSON log line → `12:00:01.234 sfu        info  msg  k=v …`. */
function pretty(svc, line) {
  let j;
  try {
    j = JSON.parse(line);
  } catch {
    return `${paint(svc.color, svc.name.padEnd(width))} ${line}`;
  }
  const {
    time,
    level,
    msg,
    service: _s,
    node_id: _n,
    trace_id,
    span_id: _sp,
    correlation_id,
    ...rest
  } = j;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const t = typeof time === 'string' ? time.slice(11, 23) : '';
  const ids = correlation_id
    ? paint(
        2,
        ` cid=${String(correlation_id).slice(0, 8)}${trace_id ? ` trace=${String(trace_id).slice(0, 8)}` : ''}`,
      )
    : '';
  return `${paint(2, t)} ${paint(svc.color, svc.name.padEnd(width))} ${paint(LEVEL_COLOR[level] ?? 0, String(level).padEnd(5))} ${msg}${fields ? ` ${paint(2, fields)}` : ''}${ids}`;
}

const boot = await bootstrap().catch((err) => {
  process.stderr.write(`npm start: set-up failed: ${err.message}\n`);
  process.exit(1);
});
const env = { ...process.env, ...boot.env };

// Out of the box the demo page needs a tenant to mint tokens: without configured tenants, a local
// dev tenant is generated once (kept in .parley/, never committed) and the page may mint tokens
// for it (SIGNALING_DEV_TOKENS; signaling refuses that with NODE_ENV=production).
let devTenant;
if (!env.SIGNALING_TENANT_KEYS && !env.SIGNALING_TENANT_KEYS_FILE) {
  const file = join(ROOT, '.parley', 'dev-tenant.json');
  if (existsSync(file)) devTenant = JSON.parse(readFileSync(file, 'utf8'));
  else {
    devTenant = {
      tenant: 'dev',
      apiKey: `APIdev${randomBytes(4).toString('hex')}`,
      apiSecret: randomBytes(24).toString('base64url'),
    };
    writeFileSync(file, `${JSON.stringify(devTenant, null, 2)}\n`, { mode: 0o600 });
  }
  env.SIGNALING_TENANT_KEYS = JSON.stringify([devTenant]);
  env.SIGNALING_DEV_TOKENS ??= devTenant.apiKey;
}
const children = [];
for (const svc of SERVICES) {
  const p = spawn(
    process.execPath,
    ['-r', '@swc-node/register', join(ROOT, 'apps', svc.name, 'src', 'main.ts')],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push({ svc, p });
  for (const stream of [p.stdout, p.stderr]) {
    let rest = '';
    stream.on('data', (b) => {
      const lines = (rest + b.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) process.stdout.write(`${pretty(svc, l)}\n`);
    });
  }
  p.on('exit', (code, signal) => {
    if (!stopping) log(`${svc.name} exited (${code ?? signal})`);
  });
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  log('stopping services…');
  await Promise.all(
    children.map(
      ({ p }) =>
        new Promise((r) => {
          if (p.exitCode !== null) return r();
          p.once('exit', r);
          p.kill('SIGTERM');
        }),
    ),
  );
  await boot.stop();
  process.exit(0);
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const url = (svc) => `http://127.0.0.1:${env[svc.port] ?? svc.def}`;
const deadline = Date.now() + 120_000;
const ready = new Set();
while (ready.size < SERVICES.length && Date.now() < deadline && !stopping) {
  for (const svc of SERVICES) {
    if (ready.has(svc.name)) continue;
    try {
      if ((await fetch(`${url(svc)}/ready`)).status === 200) ready.add(svc.name);
    } catch {
      /* not listening yet */
    }
  }
  await new Promise((r) => setTimeout(r, 300));
}
const sig = SERVICES.find((s) => s.name === 'signaling');
const table = SERVICES.map(
  (s) =>
    `  ${s.name.padEnd(width)}  ${url(s)}  ${ready.has(s.name) ? 'ready' : 'NOT READY (see /ready)'}`,
).join('\n');
process.stdout.write(
  `\n${paint(1, 'Parley is running.')}\n  demo page   ${env.SIGNALING_PUBLIC_URL ?? url(sig)}/\n  status      ${url(sig)}/v1/status\n${table}\n  (each service: /health /ready /metrics)  Ctrl-C stops everything.\n${
    devTenant
      ? `  dev tenant  "${devTenant.tenant}", API key ${devTenant.apiKey} (secret in .parley/dev-tenant.json); the page mints tokens for it\n`
      : ''
  }\n`,
);
