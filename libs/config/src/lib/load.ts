import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/** Raised when the environment does not satisfy a service's schema; lists every problem. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(
      `invalid configuration for ${service} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p}`).join('\n'),
    );
  }
}

/** Env source; defaults to `process.env`. Only this library reads `process.env`. */
export type Env = Record<string, string | undefined>;

/** The process environment. Other libraries and apps receive config objects, never `process.env`. */
export function processEnv(): Env {
  return process.env;
}

/**
 * Resolves `NAME_FILE` variants: for each key of the schema, when `NAME_FILE` is set its file's
 * content (trailing newline trimmed) becomes `NAME`. Setting both is an error, as is an
 * unreadable file.
 */
function resolveFileVariants(keys: string[], env: Env, problems: string[]): Env {
  const out: Env = { ...env };
  for (const key of keys) {
    const fileVar = `${key}_FILE`;
    const path = env[fileVar];
    if (path === undefined || path === '') continue;
    if (env[key] !== undefined && env[key] !== '') {
      problems.push(`${key}: set either ${key} or ${fileVar}, not both`);
      continue;
    }
    try {
      out[key] = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      problems.push(
        `${fileVar}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  }
  return out;
}

/**
 * Parses the environment with a service's schema. Empty strings count as unset, so a blank line
 * in an `.env` file falls back to the default instead of failing a number parse.
 */
export function loadConfig<S extends z.ZodObject>(
  service: string,
  schema: S,
  env: Env = processEnv(),
): z.output<S> {
  const problems: string[] = [];
  const keys = Object.keys(schema.shape);
  const resolved = resolveFileVariants(keys, env, problems);
  const input: Record<string, string> = {};
  for (const key of keys) {
    const v = resolved[key];
    if (v !== undefined && v !== '') input[key] = v;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.') || '(root)';
      const value = input[String(issue.path[0])];
      const shown =
        value === undefined ? 'unset' : isSecretKey(key) ? 'set (hidden)' : JSON.stringify(value);
      problems.push(`${key}: ${issue.message} (got ${shown})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(service, problems);
  return (parsed as { data: z.output<S> }).data;
}

/** Keys whose values are never echoed in errors or docs. */
export function isSecretKey(key: string): boolean {
  return /(SECRET|PASSWORD|PASS|TOKEN|KEY)$/.test(key) || key.endsWith('_KEYS');
}
