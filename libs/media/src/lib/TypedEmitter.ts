// One implementation for every engine library: see @parley/observability.
export { type EventMap, TypedEmitter } from '@parley/observability';
