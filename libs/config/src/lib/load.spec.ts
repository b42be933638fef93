import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load';
import { signalingEnv, sttWorkerEnv } from './schemas';
import { configMarkdown } from './docs';

describe('loadConfig()', () => {
  it('applies defaults when the environment is empty', () => {
    const c = loadConfig('signaling', signalingEnv, {});
    expect(c.SIGNALING_HTTP_PORT).toBe(8080);
    expect(c.NATS_URL).toEqual(['nats://127.0.0.1:4222']);
    expect(c.REDIS_KEY_PREFIX).toBe('parley:');
  });

  it('lists every problem in one ConfigError', () => {
    let err: unknown;
    try {
      loadConfig('signaling', signalingEnv, {
        SIGNALING_HTTP_PORT: 'eighty',
        NATS_URL: 'http://x',
        LOG_LEVEL: 'loud',
        REDIS_URL: 'mysql://x',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems.join('\n')).toMatch(/SIGNALING_HTTP_PORT/);
    expect(problems.join('\n')).toMatch(/NATS_URL/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/REDIS_URL/);
    expect((err as Error).message).toMatch(/4 problems/);
  });

  it('reads NAME_FILE variants and refuses both forms at once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'pw');
    writeFileSync(file, 's3cret\n');
    expect(loadConfig('signaling', signalingEnv, { NATS_PASSWORD_FILE: file }).NATS_PASSWORD).toBe(
      's3cret',
    );
    expect(() =>
      loadConfig('signaling', signalingEnv, { NATS_PASSWORD_FILE: file, NATS_PASSWORD: 'x' }),
    ).toThrow(/not both/);
    expect(() =>
      loadConfig('signaling', signalingEnv, { NATS_PASSWORD_FILE: join(dir, 'missing') }),
    ).toThrow(/ENOENT/);
  });

  it('never echoes a secret value in an error', () => {
    expect(() =>
      loadConfig('stt-worker', sttWorkerEnv, { NATS_URL: 'bogus', NATS_TOKEN: 'tok' }),
    ).not.toThrow(/tok\b/);
  });

  it('treats empty strings as unset', () => {
    expect(
      loadConfig('signaling', signalingEnv, { SIGNALING_HTTP_PORT: '' }).SIGNALING_HTTP_PORT,
    ).toBe(8080);
  });
});

describe('configMarkdown()', () => {
  it('renders one row per variable with its default', () => {
    const md = configMarkdown({ signaling: signalingEnv });
    expect(md).toContain('| signaling | `SIGNALING_HTTP_PORT` | `8080` |');
    expect(md).toContain('NATS_PASSWORD_FILE');
  });
});
