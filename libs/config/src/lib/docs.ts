import { z } from 'zod';
import { isSecretKey } from './load';

/** One row of the configuration table. */
export interface ConfigRow {
  name: string;
  default: string;
  description: string;
  secret: boolean;
}

/** Rows describing a schema, for the README table (generated, then checked by a unit test). */
export function describeEnv(schema: z.ZodObject): ConfigRow[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const f = field as z.ZodType;
    let def = '';
    const parsed = z.object({ v: f }).safeParse({});
    if (parsed.success && parsed.data.v !== undefined) {
      const v = parsed.data.v as unknown;
      def = Array.isArray(v) ? v.join(',') : String(v);
    }
    return { name, default: def, description: f.description ?? '', secret: isSecretKey(name) };
  });
}

/** Markdown table of every service's variables. */
export function configMarkdown(schemas: Record<string, z.ZodObject>): string {
  const lines: string[] = ['| service | variable | default | description |', '|---|---|---|---|'];
  for (const [service, schema] of Object.entries(schemas)) {
    for (const row of describeEnv(schema)) {
      const note = row.secret ? ` Secret: \`${row.name}_FILE\` accepted.` : '';
      lines.push(`| ${service} | \`${row.name}\` | ${row.default ? `\`${row.default}\`` : ''} | ${row.description}${note} |`);
    }
  }
  return lines.join('\n');
}
