import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = join(__dirname, '..', '..', '..');

/** The lint rules that keep the layout honest must actually fire: lint code that breaks them. */
describe('module boundaries', () => {
  beforeAll(() => {
    execFileSync('npx', ['nx', 'show', 'projects'], {
      cwd: root,
      env: { ...process.env, NX_DAEMON: 'false' },
      stdio: 'ignore',
    });
  });

  async function rulesFor(file: string, code: string): Promise<string[]> {
    // The CLI, not the API: eslint's config loader needs a real dynamic import, which jest's VM lacks.
    const r = spawnSync(
      join(root, 'node_modules', '.bin', 'eslint'),
      ['--stdin', '--stdin-filename', file, '--format', 'json'],
      { cwd: root, input: code, encoding: 'utf8' },
    );
    const [result] = JSON.parse(r.stdout) as Array<{
      messages: Array<{ ruleId: string; message: string }>;
    }>;
    return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`);
  }

  it('contracts may not depend on a util library', async () => {
    const msgs = await rulesFor(
      'libs/contracts/src/lib/bad.ts',
      "import { runService } from '@parley/runtime';\nexport const x = runService;\n",
    );
    expect(msgs.join('\n')).toMatch(
      /@nx\/enforce-module-boundaries: (Circular dependency|A project tagged with "type:contracts")/,
    );
  });

  it('contracts may not import Nest (the browser client imports them)', async () => {
    const msgs = await rulesFor(
      'libs/contracts/src/lib/bad.ts',
      "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;\n",
    );
    expect(msgs.join('\n')).toMatch(/no-restricted-imports/);
  });

  it('an engine of one scope may not import another scope', async () => {
    const msgs = await rulesFor(
      'libs/stt-engine/src/lib/bad.ts',
      "import * as media from '@parley/media';\nexport const x = media;\n",
    );
    expect(msgs.join('\n')).toMatch(/@nx\/enforce-module-boundaries.*scope:stt/);
  });

  it('test helpers are refused outside spec files', async () => {
    const msgs = await rulesFor(
      'libs/messaging/src/lib/bad.ts',
      "import { freePort } from '@parley/testing';\nexport const x = freePort;\n",
    );
    expect(msgs.join('\n')).toMatch(/no-restricted-imports/);
  });

  it('console is refused in libraries', async () => {
    const msgs = await rulesFor('libs/messaging/src/lib/bad.ts', "console.log('x');\n");
    expect(msgs.join('\n')).toMatch(/no-console/);
  });
});
