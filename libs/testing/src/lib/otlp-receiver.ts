import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as received over OTLP/HTTP JSON, flattened with its service name. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

function attrValue(v: OtlpAnyValue): unknown {
  return v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;
}

/**
 * A minimal OTLP/HTTP (JSON) trace receiver on 127.0.0.1:0, standing in for the collector/Tempo
 * in tests: services export real spans to it with their real exporter.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  private server?: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/v1/traces') {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
              resourceSpans?: Array<{
                resource?: { attributes?: OtlpKeyValue[] };
                scopeSpans?: Array<{
                  spans?: Array<{
                    traceId: string;
                    spanId: string;
                    parentSpanId?: string;
                    name: string;
                    kind: number;
                    attributes?: OtlpKeyValue[];
                  }>;
                }>;
              }>;
            };
            for (const rs of body.resourceSpans ?? []) {
              const service = String(
                attrValue(
                  rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value ?? {},
                ) ?? '',
              );
              for (const ss of rs.scopeSpans ?? []) {
                for (const s of ss.spans ?? []) {
                  this.spans.push({
                    service,
                    traceId: s.traceId,
                    spanId: s.spanId,
                    parentSpanId: s.parentSpanId || undefined,
                    name: s.name,
                    kind: s.kind,
                    attributes: Object.fromEntries(
                      (s.attributes ?? []).map((a) => [a.key, attrValue(a.value)]),
                    ),
                  });
                }
              }
            }
          } catch {
            res.statusCode = 400;
          }
        }
        res.setHeader('content-type', 'application/json');
        res.end('{}');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
