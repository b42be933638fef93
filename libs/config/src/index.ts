/** Per-app zod env schemas; the only library that reads `process.env`. */
export * from './lib/load';
export * from './lib/fields';
export * from './lib/schemas';
export * from './lib/docs';
