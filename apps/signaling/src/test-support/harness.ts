// Runs signaling in-process for integration tests, with two tenants and helpers to mint
// tokens and open protocol clients. Test support only.
import { Writable } from 'node:stream';
import { mintToken, type MintTokenOptions } from '@parley/auth';
import { SignalingClient, type SignalingClientOptions } from '@parley/client';
import { signalingEnv } from '@parley/config';
import { type RunningService, runService } from '@parley/runtime';
import { WebSocket } from 'ws';
import { SignalingModule } from '../app/signaling.module';

/** A tenant of the test deployment. */
export interface TestTenant {
  tenant: string;
  apiKey: string;
  apiSecret: string;
}

/** Two tenants (isolation tests need a second one). */
export const TENANTS = {
  acme: {
    tenant: 'acme',
    apiKey: 'APIacme0001',
    apiSecret: 'acme-secret-0123456789abcdefghijklmnop',
  },
  globex: {
    tenant: 'globex',
    apiKey: 'APIglobex01',
    apiSecret: 'globex-secret-0123456789abcdefghijklmn',
  },
} satisfies Record<string, TestTenant>;

/** A running signaling service. */
export interface TestSignaling {
  running: RunningService;
  url: string;
  wsUrl: string;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Starts signaling with test tenants on a random port; `env` overrides anything. */
export async function startSignaling(env: Record<string, string>): Promise<TestSignaling> {
  const logs: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write: (chunk: Buffer, _e, cb) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON
        }
        if (logs.length > 5000) logs.splice(0, 1000);
      }
      cb();
    },
  });
  const running = await runService(
    {
      service: 'signaling',
      envSchema: signalingEnv,
      module: SignalingModule,
      http: (c) => ({ host: '127.0.0.1', port: c.SIGNALING_HTTP_PORT }),
      redis: (c) => ({ url: c.REDIS_URL, keyPrefix: c.REDIS_KEY_PREFIX }),
    },
    {
      env: {
        SIGNALING_HTTP_PORT: '0',
        LOG_LEVEL: 'info',
        SIGNALING_TENANT_KEYS: JSON.stringify(Object.values(TENANTS)),
        SHUTDOWN_GRACE_MS: '4000',
        ...env,
      },
      noSignalHandlers: true,
      logStream: sink,
    },
  );
  await running.messaging.waitUntilConnected();
  await running.messaging.connection.flush();
  // Redis connects in the background too: a join before it is up gets a retryable UNAVAILABLE
  // (right for clients, a flake for tests). Wait until every readiness check passes.
  const deadline = Date.now() + 15_000;
  while (!(await running.health.readiness()).ready) {
    if (Date.now() > deadline) throw new Error('signaling did not become ready within 15 s');
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    running,
    url: running.url,
    wsUrl: `${running.url.replace(/^http/, 'ws')}/v1/ws`,
    logs,
    close: () => running.close(),
  };
}

/** `Authorization: Basic` header of a tenant's API key. */
export function basicAuth(t: TestTenant): string {
  return `Basic ${Buffer.from(`${t.apiKey}:${t.apiSecret}`).toString('base64')}`;
}

/** Mints a token of a tenant. */
export async function tokenFor(
  t: TestTenant,
  identity: string,
  room: string,
  opts: Partial<MintTokenOptions> = {},
): Promise<string> {
  return (
    await mintToken({
      apiKey: t.apiKey,
      apiSecret: t.apiSecret,
      tenant: t.tenant,
      identity,
      room,
      ...opts,
    })
  ).token;
}

/** A protocol client over `ws`. */
export function client(
  s: TestSignaling,
  token: string,
  opts: Partial<SignalingClientOptions> = {},
): SignalingClient {
  return new SignalingClient({ url: s.wsUrl, token, WebSocket: WebSocket as never, ...opts });
}

/** A client connected and joined. */
export async function joined(
  s: TestSignaling,
  t: TestTenant,
  identity: string,
  room: string,
  opts: Partial<MintTokenOptions> = {},
) {
  const c = client(s, await tokenFor(t, identity, room, opts));
  await c.connect();
  const join = await c.join({ displayName: identity });
  return { client: c, join };
}
