/** Injection tokens of the runtime's providers. */
export const CONFIG = Symbol('parley.config');
export const LOGGER = Symbol('parley.logger');
export const MESSAGING = Symbol('parley.messaging');
export const REDIS = Symbol('parley.redis');
export const METRICS = Symbol('parley.metrics');
export const HEALTH = Symbol('parley.health');
export const SERVICE_INFO = Symbol('parley.service-info');
