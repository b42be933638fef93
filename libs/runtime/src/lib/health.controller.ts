import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { HealthRegistry, Metrics } from '@parley/observability';
import type { Response } from 'express';
import { HEALTH, METRICS, SERVICE_INFO } from './tokens';
import type { ServiceInfo } from './service-info';

/** `/health`: the process is alive. Not mounted when the app serves `/health` itself. */
@Controller()
export class LivenessController {
  constructor(@Inject(SERVICE_INFO) private readonly info: ServiceInfo) {}

  @Get('health')
  alive() {
    return {
      status: 'ok',
      service: this.info.service,
      nodeId: this.info.nodeId,
      version: this.info.version,
    };
  }
}

/** `/ready` (dependencies, 503 with reasons) and `/metrics` (Prometheus). */
@Controller()
export class HealthController {
  constructor(
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(METRICS) private readonly metrics: Metrics,
  ) {}

  @Get('ready')
  async ready(@Res() res: Response) {
    const r = await this.health.readiness();
    this.metrics.ready.set(r.ready ? 1 : 0);
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not_ready', ...r });
  }

  @Get('metrics')
  async prometheus(@Res() res: Response) {
    const { contentType, body } = await this.metrics.render();
    res.setHeader('Content-Type', contentType);
    res.send(body);
  }
}
