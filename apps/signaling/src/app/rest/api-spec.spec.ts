import 'reflect-metadata';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { API, buildOpenApi, nestPath } from './api-spec';
import { RoomsController } from './rooms.controller';
import { TokensController } from './tokens.controller';

/** Routes Nest really registers for a controller (method + path). */
function routes(controller: new (...args: never[]) => unknown): string[] {
  const proto = controller.prototype as Record<string, unknown>;
  return Object.getOwnPropertyNames(proto)
    .filter(
      (k) =>
        k !== 'constructor' && Reflect.getMetadata(PATH_METADATA, proto[k] as object) !== undefined,
    )
    .map((k) => {
      const fn = proto[k] as object;
      const m = RequestMethod[Reflect.getMetadata(METHOD_METADATA, fn) as number].toLowerCase();
      return `${m} ${Reflect.getMetadata(PATH_METADATA, fn) as string}`;
    });
}

describe('REST API spec', () => {
  it('the controllers serve exactly the routes of the spec the OpenAPI document is generated from', () => {
    const served = [...routes(TokensController), ...routes(RoomsController)].sort();
    const specified = Object.values(API)
      .map((r) => `${r.method} ${nestPath(r)}`)
      .sort();
    expect(served).toEqual(specified);
  });

  it('buildOpenApi() documents request bodies with their input schema and every error status', () => {
    const doc = buildOpenApi('1.2.3') as {
      info: { version: string };
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    expect(doc.info.version).toBe('1.2.3');
    const createToken = doc.paths['/v1/tokens']?.['post'] as {
      requestBody: {
        content: {
          'application/json': {
            schema: { required: string[]; properties: Record<string, { default?: unknown }> };
          };
        };
      };
      responses: Record<string, unknown>;
    };
    const schema = createToken.requestBody.content['application/json'].schema;
    expect(schema.required).toEqual(expect.arrayContaining(['identity', 'room']));
    expect(schema.required).not.toContain('role');
    expect(schema.properties['role']?.default).toBe('member');
    expect(Object.keys(createToken.responses).sort()).toEqual([
      '201',
      '400',
      '401',
      '403',
      '404',
      '409',
      '429',
      '503',
    ]);
  });
});
