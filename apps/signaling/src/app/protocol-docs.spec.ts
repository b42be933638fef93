import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ErrorBody,
  WS_METHODS,
  WS_NOTIFICATION_METHODS,
  WsRequestSchema,
  WsServerEnvelope,
  type WsMethod,
  type WsNotificationMethod,
  wsNotifications,
  wsRequests,
} from '@parley/contracts';

const DOC = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'protocol.md'), 'utf8');

/** `### name` sections under a `## heading`, each with its JSON code blocks. */
function sections(heading: string): Map<string, unknown[]> {
  const start = DOC.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/protocol.md has no "## ${heading}"`);
  const rest = DOC.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  const body = end < 0 ? rest : rest.slice(0, end);
  const out = new Map<string, unknown[]>();
  for (const part of body.split(/\n### /).slice(1)) {
    const name = part.slice(0, part.indexOf('\n')).trim();
    const blocks = [...part.matchAll(/```json\n([\s\S]*?)```/g)].map(
      (m) => JSON.parse(m[1] ?? '') as unknown,
    );
    out.set(name, blocks);
  }
  return out;
}

describe('docs/protocol.md stays in step with the contracts', () => {
  const requests = sections('Requests');
  const notifications = sections('Notifications');

  it('documents every request method and nothing else', () => {
    expect([...requests.keys()].sort()).toEqual([...WS_METHODS].sort());
  });

  it('documents every notification and nothing else', () => {
    expect([...notifications.keys()].sort()).toEqual([...WS_NOTIFICATION_METHODS].sort());
  });

  it.each(WS_METHODS)(
    'the %s example request and response are valid against the contracts',
    (method) => {
      const [req, ...responses] = requests.get(method) ?? [];
      const r = WsRequestSchema.safeParse(req);
      if (!r.success) throw new Error(`${method} request example: ${r.error.message}`);
      expect((req as { method: string }).method).toBe(method);
      expect(responses.length).toBeGreaterThan(0);
      for (const res of responses) {
        const env = WsServerEnvelope.parse(res) as {
          type: string;
          ok?: boolean;
          data?: unknown;
          error?: unknown;
          id?: unknown;
        };
        expect(env.type).toBe('response');
        expect(env.id).toBe((req as { id: unknown }).id);
        if (env.ok) {
          const d = wsRequests[method as WsMethod].response.safeParse(env.data);
          if (!d.success) throw new Error(`${method} response example: ${d.error.message}`);
        } else {
          ErrorBody.parse(env.error);
        }
      }
    },
  );

  it.each(WS_NOTIFICATION_METHODS)('the %s example is a valid notification', (method) => {
    const blocks = notifications.get(method) ?? [];
    expect(blocks).toHaveLength(1);
    const env = WsServerEnvelope.parse(blocks[0]) as {
      type: string;
      method?: string;
      data?: unknown;
    };
    expect(env).toMatchObject({ type: 'notification', method });
    const d = wsNotifications[method as WsNotificationMethod].data.safeParse(env.data);
    if (!d.success) throw new Error(`${method} example: ${d.error.message}`);
  });

  it('every other JSON example on the page is a valid envelope', () => {
    const all = [...DOC.matchAll(/```json\n([\s\S]*?)```/g)].map(
      (m) => JSON.parse(m[1] ?? '') as { type: string },
    );
    expect(all.length).toBeGreaterThan(WS_METHODS.length * 2);
    for (const frame of all) {
      const ok =
        frame.type === 'request'
          ? WsRequestSchema.safeParse(frame).success
          : WsServerEnvelope.safeParse(frame).success;
      if (!ok) throw new Error(`invalid example ${JSON.stringify(frame).slice(0, 200)}`);
    }
  });
});
