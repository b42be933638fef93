import type { EventContract, RequestContract } from './contract';
import { describeContracts } from './services';

/**
 * Every contract by subject. Services never spell a subject themselves: they look contracts up
 * here (or import them by name), and the NATS transport refuses to serve a subject it cannot find.
 */
const contracts = new Map<string, RequestContract | EventContract>();

/** Adds contracts to the registry (each domain folder registers its own at import time). */
export function registerContracts(...list: Array<RequestContract | EventContract>): void {
  for (const c of list) {
    const existing = contracts.get(c.subject);
    if (existing && existing !== c) throw new Error(`duplicate contract for subject ${c.subject}`);
    contracts.set(c.subject, c);
  }
}

/** Looks a contract up by its subject. */
export function contractForSubject(subject: string): RequestContract | EventContract | undefined {
  return contracts.get(subject);
}

/** All registered contracts (for docs and tests). */
export function allContracts(): Array<RequestContract | EventContract> {
  return [...contracts.values()];
}

registerContracts(...Object.values(describeContracts));
