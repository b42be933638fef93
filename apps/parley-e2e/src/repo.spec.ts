import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { README_MARKERS, configMarkdown, envExample, envSchemas } from '@parley/config';
import { SERVICE_NAMES } from '@parley/contracts';
import { parse } from 'yaml';

const root = join(__dirname, '..', '..', '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

describe('generated docs', () => {
  it('the README configuration table matches the zod schemas (run `npm run config:docs`)', () => {
    const readme = read('README.md');
    const [start, end] = README_MARKERS;
    const table = readme.slice(readme.indexOf(start) + start.length, readme.indexOf(end)).trim();
    expect(table).toBe(configMarkdown(envSchemas));
  });

  it.each(Object.keys(envSchemas))(
    'apps/%s/.env.example lists every variable of its schema',
    (service) => {
      expect(read(`apps/${service}/.env.example`)).toBe(
        envExample(service, envSchemas[service as keyof typeof envSchemas]),
      );
    },
  );
});

describe('deployment files (no Docker engine here: parsed and cross-checked instead of run)', () => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<
      string,
      {
        build?: { dockerfile?: string; args?: Record<string, string> };
        healthcheck?: { test?: string[] };
        volumes?: string[];
        command?: string[];
      }
    >;
    volumes: Record<string, unknown>;
  };

  it('docker-compose.yml runs every service from the shared Dockerfile with a readiness healthcheck', () => {
    for (const name of SERVICE_NAMES) {
      const svc = compose.services[name];
      expect(svc?.build?.args?.['APP']).toBe(name);
      expect(existsSync(join(root, svc?.build?.dockerfile ?? ''))).toBe(true);
      expect(svc?.healthcheck?.test?.join(' ')).toMatch(/\/ready/);
    }
  });

  it('NATS runs JetStream on a volume and Redis persists', () => {
    expect(compose.services['nats']?.command).toEqual(
      expect.arrayContaining(['-js', '-sd', '/data']),
    );
    expect(compose.services['nats']?.volumes?.[0]).toMatch(/^nats-data:/);
    expect(compose.services['redis']?.command).toEqual(
      expect.arrayContaining(['--appendonly', 'yes']),
    );
    expect(Object.keys(compose.volumes)).toEqual(
      expect.arrayContaining(['nats-data', 'redis-data']),
    );
  });

  it('every file mounted into the observability stack exists and parses', () => {
    for (const svc of Object.values(compose.services)) {
      for (const v of svc.volumes ?? []) {
        if (!v.startsWith('./')) continue;
        const file = join(root, v.split(':')[0] ?? '');
        expect(existsSync(file)).toBe(true);
      }
    }
    for (const f of ['otel-collector.yaml', 'tempo.yaml', 'prometheus.yaml'])
      expect(() => parse(read(`deploy/observability/${f}`))).not.toThrow();
  });

  it('the Dockerfile is multi-stage and runs as a non-root user', () => {
    const df = read('deploy/Dockerfile');
    expect(df.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(df).toMatch(/^USER node$/m);
  });

  it('CI runs npm test and nothing else', () => {
    expect(read('.ci/run')).toMatch(/exec npm test\n$/);
    const wf = parse(read('.github/workflows/ci.yml')) as {
      jobs: { test: { steps: Array<{ run?: string }> } };
    };
    expect(wf.jobs.test.steps.some((s) => s.run?.includes('npm test'))).toBe(true);
  });
});
