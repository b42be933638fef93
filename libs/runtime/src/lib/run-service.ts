import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import {
  type DynamicModule,
  Global,
  type INestApplication,
  Module,
  type Provider,
  type Type,
} from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { type CommonConfig, ConfigError, type Env, loadConfig } from '@parley/config';
import { type ServiceName, describeContracts } from '@parley/contracts';
import { NatsContractTransport, NatsMessaging, connectionName } from '@parley/messaging';
import {
  HealthRegistry,
  type Logger,
  Metrics,
  type Tracing,
  createLogger,
  initTracing,
} from '@parley/observability';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import type { z } from 'zod';
import { ParleyExceptionFilter } from './exception.filter';
import { HealthController, LivenessController } from './health.controller';
import { httpTelemetry } from './http-telemetry';
import { NestLogger } from './nest-logger';
import type { ServiceInfo } from './service-info';
import { CONFIG, HEALTH, LOGGER, MESSAGING, METRICS, REDIS, SERVICE_INFO } from './tokens';

/** Version of the workspace package.json (found upwards from this file, in source and in images). */
function workspaceVersion(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'parley') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

const pkg = { version: workspaceVersion() };

/** What an app declares to be run by {@link runService}. */
export interface ServiceDefinition<S extends z.ZodObject> {
  service: ServiceName;
  /** The app's env schema from `@parley/config`. */
  envSchema: S;
  /** The app's feature module (controllers, handlers). */
  module: Type<unknown>;
  /** HTTP listen address from the parsed config. */
  http: (config: z.output<S>) => { host: string; port: number };
  /** Redis URL and key prefix when the app uses Redis. */
  redis?: (config: z.output<S>) => { url: string; keyPrefix: string };
  /**
   * The app's module serves `GET /health` itself (an API whose clients give `/health` another
   * meaning, e.g. whisper.cpp's server: 503 until a model is loaded). The runtime then mounts only
   * `/ready` and `/metrics`. Default false: the runtime's liveness `/health`.
   */
  ownHealthRoute?: boolean;
}

/** Test and embedding overrides. */
export interface RunOptions {
  /** Environment instead of `process.env`. */
  env?: Env;
  /** Extra span exporter (tests use an in-memory one). */
  spanExporter?: SpanExporter;
  /** Log destination instead of stdout. */
  logStream?: NodeJS.WritableStream;
  /** Do not install SIGTERM/SIGINT handlers (several services in one test process). */
  noSignalHandlers?: boolean;
}

/** A running service. */
export interface RunningService<C = unknown> {
  app: INestApplication;
  config: C;
  info: ServiceInfo;
  url: string;
  port: number;
  messaging: NatsMessaging;
  redis?: Redis;
  logger: Logger;
  metrics: Metrics;
  health: HealthRegistry;
  /** Drains connections and stops. Idempotent. */
  close(): Promise<void>;
}

/** Global module exposing the runtime's providers to the app's feature module. */
@Global()
@Module({})
class RuntimeModule {
  static forRoot(providers: Provider[], liveness: boolean): DynamicModule {
    return {
      module: RuntimeModule,
      controllers: liveness ? [LivenessController, HealthController] : [HealthController],
      providers: [...providers, { provide: APP_FILTER, useClass: ParleyExceptionFilter }],
      exports: providers.map((p) => (p as { provide: symbol }).provide),
    };
  }
}

/**
 * Boots a Parley service: validates config (a bad config throws {@link ConfigError} listing every
 * problem), installs tracing and JSON logs, connects NATS (and Redis) in the background with
 * readiness checks, serves `/health`, `/ready`, `/metrics`, answers `<service>.node.describe`,
 * mounts the app's module, and wires `@MessagePattern` handlers through the contract transport.
 */
export async function runService<S extends z.ZodObject>(
  def: ServiceDefinition<S>,
  opts: RunOptions = {},
): Promise<RunningService<z.output<S>>> {
  const config = loadConfig(def.service, def.envSchema, opts.env) as z.output<S> & CommonConfig;
  const nodeId =
    config.PARLEY_NODE_ID ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
  const info: ServiceInfo = {
    service: def.service,
    version: pkg.version,
    nodeId,
    startedAt: Date.now(),
  };
  const tracing: Tracing = initTracing({
    serviceName: def.service,
    serviceVersion: pkg.version,
    nodeId,
    otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    batchDelayMs: config.OTEL_BSP_SCHEDULE_DELAY,
    exporter: opts.spanExporter,
  });
  const logger = createLogger({
    service: def.service,
    nodeId,
    level: config.LOG_LEVEL,
    stream: opts.logStream,
  });
  const metrics = new Metrics(def.service, nodeId);
  const health = new HealthRegistry();

  const messaging = new NatsMessaging({
    servers: config.NATS_URL,
    name: connectionName(def.service, nodeId),
    queue: def.service,
    user: config.NATS_USER,
    password: config.NATS_PASSWORD,
    token: config.NATS_TOKEN,
    defaultTimeoutMs: config.NATS_REQUEST_TIMEOUT_MS,
    logger,
    metrics,
  });
  health.register('nats', () => messaging.health());
  messaging.start();

  let redis: Redis | undefined;
  if (def.redis) {
    const r = def.redis(config);
    redis = new Redis(r.url, {
      keyPrefix: r.keyPrefix,
      // Fail fast while Redis is down instead of queueing: callers get a clear error and /ready says why.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      lazyConnect: false,
    });
    let lastRedisError = '';
    redis.on('error', (err: Error) => {
      if (err.message !== lastRedisError)
        logger.warn('redis() | connection error', { err: err.message });
      lastRedisError = err.message;
    });
    redis.on('ready', () => {
      lastRedisError = '';
      logger.info('redis() | ready');
    });
    const client = redis;
    health.register('redis', async () => {
      if (client.status !== 'ready')
        return {
          ok: false,
          reason: `redis ${client.status}${lastRedisError ? `: ${lastRedisError}` : ''}`,
        };
      await client.ping();
      return { ok: true };
    });
  }

  messaging.serve(describeContracts[def.service], async () => ({
    service: def.service,
    version: info.version,
    nodeId,
    uptimeS: (Date.now() - info.startedAt) / 1000,
    readiness: await health.readiness(),
  }));

  const providers: Provider[] = [
    { provide: CONFIG, useValue: config },
    { provide: LOGGER, useValue: logger },
    { provide: MESSAGING, useValue: messaging },
    { provide: REDIS, useValue: redis ?? null },
    { provide: METRICS, useValue: metrics },
    { provide: HEALTH, useValue: health },
    { provide: SERVICE_INFO, useValue: info },
  ];

  @Module({ imports: [RuntimeModule.forRoot(providers, !def.ownHealthRoute), def.module] })
  class RootModule {}

  const app = await NestFactory.create(RootModule, {
    logger: new NestLogger(logger),
    bufferLogs: false,
    abortOnError: false,
  });
  app.getHttpAdapter().getInstance().disable?.('x-powered-by');
  app.use(httpTelemetry(logger, metrics));
  app.connectMicroservice(
    { strategy: new NatsContractTransport(messaging) },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  const { host, port } = def.http(config);
  await app.listen(port, host);
  const address = app.getHttpServer().address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  logger.info('runService() | listening', { url, version: info.version });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      logger.info('close() | shutting down');
      await app
        .close()
        .catch((err: Error) => logger.error('close() | app close failed', { err: err.message }));
      await messaging.close();
      if (redis) await redis.quit().catch(() => redis?.disconnect());
      await tracing.flush().catch(() => undefined);
    })());

  if (!opts.noSignalHandlers) {
    let stopping = false;
    const onSignal = (signal: string) => {
      // A terminal's Ctrl-C reaches every process of the group and `npm start` then sends SIGTERM
      // too: the second signal must not cut the drain short.
      if (stopping) return;
      stopping = true;
      logger.info('signal() | stopping', { signal });
      const force = setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS);
      force.unref();
      void close().then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  return {
    app,
    config,
    info,
    url,
    port: address.port,
    messaging,
    redis,
    logger,
    metrics,
    health,
    close,
  };
}

/**
 * Entry point for an app's `main.ts`: runs the service, prints a bad config as one message listing
 * every problem and exits 2; logs and survives unhandled rejections.
 */
export function main<S extends z.ZodObject>(def: ServiceDefinition<S>): void {
  process.on('unhandledRejection', (reason) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'error', service: def.service, msg: 'process() | unhandled rejection', err: String((reason as Error)?.stack ?? reason) })}\n`,
    );
  });
  runService(def).catch((err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'error', service: def.service, msg: 'main() | invalid configuration', problems: err.problems })}\n`,
      );
      process.exit(2);
    }
    process.stderr.write(
      `${def.service}: start-up failed: ${(err as Error)?.stack ?? String(err)}\n`,
    );
    process.exit(1);
  });
}
