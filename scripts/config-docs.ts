// `npm run config:docs`: regenerates the README configuration table and every app's .env.example
// from the zod schemas in libs/config. A unit test fails when they are out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { README_MARKERS, configMarkdown, envExample, envSchemas } from '@parley/config';

const root = join(__dirname, '..');
const readmePath = join(root, 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const [start, end] = README_MARKERS;
const a = readme.indexOf(start);
const b = readme.indexOf(end);
if (a < 0 || b < 0) throw new Error('README.md has no config-table markers');
writeFileSync(
  readmePath,
  `${readme.slice(0, a + start.length)}\n${configMarkdown(envSchemas)}\n${readme.slice(b)}`,
);
for (const [service, schema] of Object.entries(envSchemas)) {
  writeFileSync(join(root, 'apps', service, '.env.example'), envExample(service, schema));
}
console.log('README.md configuration table and apps/*/.env.example regenerated');
