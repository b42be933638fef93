import type { PipeTransform } from '@nestjs/common';
import { ParleyError } from './errors';
import type { z } from 'zod';

/** Validates a body or parameter with a contract schema: `BAD_REQUEST` naming the first issue, all issues (up to 10) in `details`. */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    private readonly what = 'body',
  ) {}

  transform(value: unknown): z.output<S> {
    const r = this.schema.safeParse(value ?? {});
    if (r.success) return r.data;
    const issues = r.error.issues
      .slice(0, 10)
      .map((i) => ({ path: i.path.map(String), message: i.message }));
    const first = issues[0];
    throw new ParleyError(
      'BAD_REQUEST',
      `invalid ${this.what}: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'rejected'}`,
      400,
      false,
      issues,
    );
  }
}
