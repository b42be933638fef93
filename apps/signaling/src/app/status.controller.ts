import { Controller, Get, Inject } from '@nestjs/common';
import { type DescribeResponse, SERVICE_NAMES, describeContracts } from '@parley/contracts';
import { type NatsMessaging, toErrorBody } from '@parley/messaging';
import { MESSAGING } from '@parley/runtime';

/** `GET /v1/status`: asks every service for its description over NATS (one trace, many hops). */
@Controller('v1/status')
export class StatusController {
  constructor(@Inject(MESSAGING) private readonly messaging: NatsMessaging) {}

  @Get()
  async status() {
    const services = await Promise.all(
      SERVICE_NAMES.map(async (service) => {
        try {
          const d: DescribeResponse = await this.messaging.request(describeContracts[service], {
            caller: 'signaling',
          });
          return { ...d, reachable: true };
        } catch (err) {
          return { service, reachable: false, error: toErrorBody(err) };
        }
      }),
    );
    return { services };
  }
}
