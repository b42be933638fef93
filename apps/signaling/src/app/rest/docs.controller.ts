import { Controller, Get, Header, Inject } from '@nestjs/common';
import { SERVICE_INFO, type ServiceInfo } from '@parley/runtime';
import { buildOpenApi } from './api-spec';

/** `GET /v1/docs`: the generated OpenAPI 3.1 document of the REST API. */
@Controller()
export class DocsController {
  private doc?: Record<string, unknown>;

  constructor(@Inject(SERVICE_INFO) private readonly info: ServiceInfo) {}

  @Get(['v1/docs', 'v1/docs/openapi.json'])
  @Header('Cache-Control', 'no-cache')
  openapi(): Record<string, unknown> {
    return (this.doc ??= buildOpenApi(this.info.version));
  }
}
