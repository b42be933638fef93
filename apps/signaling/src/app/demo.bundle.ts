import { dirname, join } from 'node:path';
import type { Plugin } from 'esbuild';

/** Workspace root (apps/signaling/src/app -> ../../../..). */
const ROOT = join(__dirname, '..', '..', '..', '..');
/** Entry of the page's TypeScript. */
export const WEB_ENTRY = join(ROOT, 'apps', 'signaling', 'src', 'web', 'main.ts');

/**
 * zod re-exports every locale through `z.locales` (a quarter of a megabyte); the page's error
 * messages are English, so the locales index is cut down to `en`.
 */
const englishOnlyZod: Plugin = {
  name: 'zod-english-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (a) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(a.path),
      loader: 'js',
    }));
  },
};

/** The page's script. */
export interface DemoBundle {
  code: string;
  /** How long esbuild took. */
  buildMs: number;
}

/**
 * Bundles the page (its TypeScript, `@parley/client`, `@parley/contracts`, mediasoup-client) with
 * esbuild into one browser script, in memory: no CDN, no network, always the sources of this
 * checkout. esbuild's platform binary is an optional npm dependency, so this works offline.
 */
export async function buildDemoBundle(opts: { minify?: boolean } = {}): Promise<DemoBundle> {
  const t0 = performance.now();
  const esbuild = await import('esbuild');
  const r = await esbuild.build({
    entryPoints: [WEB_ENTRY],
    tsconfig: join(ROOT, 'tsconfig.json'),
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: ['chrome111', 'firefox115', 'safari16'],
    minify: opts.minify ?? true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [englishOnlyZod],
  });
  const out = r.outputFiles[0];
  if (!out) throw new Error('esbuild produced no output');
  return { code: out.text, buildMs: Math.round(performance.now() - t0) };
}
