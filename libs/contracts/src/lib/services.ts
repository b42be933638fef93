import { z } from 'zod';
import { defineRequest } from './contract';

/** The services of Parley; also their NATS queue-group names and subject prefixes. */
export const SERVICE_NAMES = ['signaling', 'sfu', 'stt', 'stt-worker', 'tts'] as const;
/** A Parley service name. */
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Subject-safe form of a service name (`stt-worker` -> `sttworker`). */
export function subjectToken(service: ServiceName): string {
  return service.replace(/-/g, '');
}

/** One dependency check as `/ready` reports it. */
export const ReadinessCheck = z.object({
  /** Dependency name, e.g. `nats`, `redis`, `model`. */
  name: z.string(),
  /** Whether the dependency is usable now. */
  ok: z.boolean(),
  /** Why it is not (or extra detail when it is). */
  reason: z.string().optional(),
});
/** One dependency check as `/ready` reports it. */
export type ReadinessCheck = z.infer<typeof ReadinessCheck>;

/** Readiness of a service: ready when every check is ok. */
export const Readiness = z.object({
  /** True when every check passes. */
  ready: z.boolean(),
  /** Individual checks. */
  checks: z.array(ReadinessCheck),
});
/** Readiness of a service. */
export type Readiness = z.infer<typeof Readiness>;

/** Request of `<service>.node.describe`: optionally ask for a delay to test deadlines. */
export const DescribeRequest = z
  .object({
    /** Who is asking (free text for logs). */
    caller: z.string().max(128).optional(),
  })
  .strict();
/** Request of `<service>.node.describe`. */
export type DescribeRequest = z.infer<typeof DescribeRequest>;

/** What a node says about itself. */
export const DescribeResponse = z.object({
  /** Service name. */
  service: z.enum(SERVICE_NAMES),
  /** Package version. */
  version: z.string(),
  /** Unique id of this process (hostname + pid + random suffix unless configured). */
  nodeId: z.string(),
  /** Seconds since start. */
  uptimeS: z.number().nonnegative(),
  /** Current readiness with the reason of every failing check. */
  readiness: Readiness,
});
/** What a node says about itself. */
export type DescribeResponse = z.infer<typeof DescribeResponse>;

/** `<service>.node.describe` for each service: version, node id and readiness of one node. */
export const describeContracts = Object.fromEntries(
  SERVICE_NAMES.map((service) => [
    service,
    defineRequest({
      subject: `${subjectToken(service)}.node.describe`,
      request: DescribeRequest,
      response: DescribeResponse,
      timeoutMs: 2_000,
      description: `Describe one ${service} node: version, node id, readiness.`,
    }),
  ]),
) as Record<
  ServiceName,
  ReturnType<typeof defineRequest<typeof DescribeRequest, typeof DescribeResponse>>
>;
