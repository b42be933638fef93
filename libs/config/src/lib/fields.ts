import { z } from 'zod';

/** A TCP port number given as a string. */
export const port = (def: number) => z.coerce.number().int().min(0).max(65535).default(def);

/** A positive integer given as a string. */
export const posInt = (def: number) => z.coerce.number().int().positive().default(def);

/** A boolean given as `true/false/1/0/yes/no`. */
export const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** A comma-separated list of URLs with one of the given schemes. */
export const urlList = (schemes: string[], def: string) =>
  z
    .string()
    .default(def)
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .refine(
      (list) => list.length > 0 && list.every((u) => schemes.some((s) => u.startsWith(`${s}://`))),
      {
        message: `expected comma-separated ${schemes.join('/')}:// URLs`,
      },
    );

/** An http(s) URL. */
export const httpUrl = () => z.url({ protocol: /^https?$/ });
