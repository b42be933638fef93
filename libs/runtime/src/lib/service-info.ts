import type { ServiceName } from '@parley/contracts';

/** Identity of the running service. */
export interface ServiceInfo {
  service: ServiceName;
  version: string;
  nodeId: string;
  startedAt: number;
}
