// Pure placement decisions, kept free of mediasoup so they can be unit-tested with plain data.

/** A worker's load as seen by the pool. */
export interface WorkerLoad {
  /** Slot index in the pool (stable across replacements). */
  readonly index: number;
  /** False once the worker died or closed. */
  readonly alive: boolean;
  readonly routers: number;
  readonly transports: number;
  readonly producers: number;
  readonly consumers: number;
  /** CPU use of the worker process over the last polling interval, 0..100 (one core). */
  readonly cpuPct: number;
}

/**
 * Streams are what a worker spends its core on (every consumer forwards every packet), so the
 * number of producers + consumers is the primary load measure; routers, CPU and index only break
 * ties so that empty workers are filled in a stable order.
 */
export function workerLoadScore(load: WorkerLoad): number {
  return load.producers + load.consumers;
}

/**
 * The least-loaded live worker, preferring those not in `avoid` (workers a room already uses,
 * so a room that spans workers really spreads). Falls back to avoided workers when every live
 * worker is avoided. Undefined when no worker is alive.
 */
export function pickLeastLoaded<T extends WorkerLoad>(
  loads: readonly T[],
  avoid: ReadonlySet<number> = new Set(),
): T | undefined {
  const alive = loads.filter((l) => l.alive);
  const preferred = alive.filter((l) => !avoid.has(l.index));
  const pool = preferred.length > 0 ? preferred : alive;
  let best: T | undefined;
  for (const l of pool) {
    if (!best || compareLoad(l, best) < 0) best = l;
  }
  return best;
}

function compareLoad(a: WorkerLoad, b: WorkerLoad): number {
  return (
    workerLoadScore(a) - workerLoadScore(b) ||
    a.routers - b.routers ||
    a.cpuPct - b.cpuPct ||
    a.index - b.index
  );
}

/** Where a joining peer goes: an existing router of the room (by index) or a new one. */
export type RouterChoice = { kind: 'existing'; index: number } | { kind: 'new' };

/**
 * Chooses the router for a peer joining a room whose routers currently carry `routerConsumers`
 * consumers each. The least-loaded router is used while it is below `threshold`; past it the room
 * grows onto a new router (another worker, joined with `pipeToRouter`) unless `maxRouters` is
 * reached, in which case the least-loaded router takes the peer anyway.
 */
export function chooseRouterForPeer(
  routerConsumers: readonly number[],
  threshold: number,
  maxRouters: number,
): RouterChoice {
  let index = -1;
  let least = Infinity;
  routerConsumers.forEach((consumers, i) => {
    if (consumers < least) [index, least] = [i, consumers];
  });
  if (index < 0) return { kind: 'new' };
  if (least < threshold || routerConsumers.length >= maxRouters) {
    return { kind: 'existing', index };
  }
  return { kind: 'new' };
}

/**
 * CPU percentage of one core from two `getResourceUsage()` samples (user + system time in ms)
 * taken `wallMs` apart. Clamped to 0..100 per core; a worker is single-threaded.
 */
export function cpuPercent(
  prev: { utimeMs: number; stimeMs: number },
  next: { utimeMs: number; stimeMs: number },
  wallMs: number,
): number {
  if (wallMs <= 0) return 0;
  const used = next.utimeMs - prev.utimeMs + (next.stimeMs - prev.stimeMs);
  return Math.max(0, Math.min(100, (100 * used) / wallMs));
}
