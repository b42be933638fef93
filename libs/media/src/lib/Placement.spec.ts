import {
  chooseRouterForPeer,
  cpuPercent,
  pickLeastLoaded,
  workerLoadScore,
  type WorkerLoad,
} from './Placement';

function load(index: number, over: Partial<WorkerLoad> = {}): WorkerLoad {
  return {
    index,
    alive: true,
    routers: 0,
    transports: 0,
    producers: 0,
    consumers: 0,
    cpuPct: 0,
    ...over,
  };
}

describe('pickLeastLoaded()', () => {
  it('picks the worker carrying the fewest producers + consumers', () => {
    const loads = [
      load(0, { consumers: 40, producers: 2 }),
      load(1, { consumers: 10, producers: 1 }),
      load(2, { consumers: 30 }),
    ];
    expect(pickLeastLoaded(loads)?.index).toBe(1);
  });

  it('skips dead workers even when they look empty', () => {
    const loads = [load(0, { alive: false }), load(1, { consumers: 500 })];
    expect(pickLeastLoaded(loads)?.index).toBe(1);
  });

  it('returns undefined when no worker is alive', () => {
    expect(pickLeastLoaded([load(0, { alive: false })])).toBeUndefined();
    expect(pickLeastLoaded([])).toBeUndefined();
  });

  it('breaks ties by routers, then CPU, then slot index', () => {
    expect(pickLeastLoaded([load(0, { routers: 3 }), load(1, { routers: 1 })])?.index).toBe(1);
    expect(pickLeastLoaded([load(0, { cpuPct: 30 }), load(1, { cpuPct: 5 })])?.index).toBe(1);
    expect(pickLeastLoaded([load(1), load(0)])?.index).toBe(0);
  });

  it('avoids workers a room already uses unless every live worker is avoided', () => {
    const loads = [load(0), load(1, { consumers: 100 })];
    expect(pickLeastLoaded(loads, new Set([0]))?.index).toBe(1);
    expect(pickLeastLoaded(loads, new Set([0, 1]))?.index).toBe(0);
  });

  it('scores a worker by its streams', () => {
    expect(workerLoadScore(load(0, { producers: 3, consumers: 7, transports: 99 }))).toBe(10);
  });
});

describe('chooseRouterForPeer()', () => {
  it('needs a first router when the room has none', () => {
    expect(chooseRouterForPeer([], 10, 4)).toEqual({ kind: 'new' });
  });

  it('keeps peers on the least-loaded router while it is below the threshold', () => {
    expect(chooseRouterForPeer([9], 10, 4)).toEqual({ kind: 'existing', index: 0 });
    expect(chooseRouterForPeer([10, 3], 10, 4)).toEqual({ kind: 'existing', index: 1 });
  });

  it('grows onto a new router once every router reached the threshold', () => {
    expect(chooseRouterForPeer([10], 10, 4)).toEqual({ kind: 'new' });
    expect(chooseRouterForPeer([12, 10], 10, 4)).toEqual({ kind: 'new' });
  });

  it('stays on the least-loaded router when the room already spans maxRouters', () => {
    expect(chooseRouterForPeer([12, 11], 10, 2)).toEqual({ kind: 'existing', index: 1 });
  });
});

describe('cpuPercent()', () => {
  it('is the user + system time used over the wall-clock interval', () => {
    const prev = { utimeMs: 1000, stimeMs: 200 };
    const next = { utimeMs: 1400, stimeMs: 300 };
    expect(cpuPercent(prev, next, 1000)).toBeCloseTo(50);
  });

  it('clamps to one core and to zero for bad intervals', () => {
    expect(cpuPercent({ utimeMs: 0, stimeMs: 0 }, { utimeMs: 5000, stimeMs: 0 }, 1000)).toBe(100);
    expect(cpuPercent({ utimeMs: 0, stimeMs: 0 }, { utimeMs: 10, stimeMs: 0 }, 0)).toBe(0);
  });
});
