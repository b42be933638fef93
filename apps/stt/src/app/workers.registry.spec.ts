import type { SttWorkerHeartbeat } from '@parley/contracts';
import { WorkerTable } from './workers.registry';

function hb(workerId: string, state: SttWorkerHeartbeat['state']): SttWorkerHeartbeat {
  return {
    workerId,
    version: '0',
    state,
    device: 'cpu',
    gpu: false,
    threads: 1,
    languages: state === 'ready' ? ['en'] : [],
    lanes: {
      realtime: { enabled: state === 'ready', pending: 0, streams: 0 },
      batch: { enabled: state === 'ready' },
    },
    heartbeatMs: 1000,
    sentAt: 0,
  };
}

describe('WorkerTable (whisper.cpp /health over the fleet)', () => {
  it('says "no workers" with none, "loading model" while one loads, ok once one is ready', () => {
    const table = new WorkerTable();
    expect(table.health(0)).toMatchObject({ ok: false, status: 'no workers' });
    table.update(hb('a', 'loading'), 0);
    expect(table.health(0)).toMatchObject({ ok: false, status: 'loading model', workers: 1 });
    table.update(hb('b', 'ready'), 0);
    expect(table.health(0)).toMatchObject({ ok: true, status: 'ok', workers: 2, ready: 1 });
  });

  it('forgets a worker silent for three heartbeat intervals, and ignores stopping ones', () => {
    const table = new WorkerTable();
    table.update(hb('a', 'ready'), 0);
    expect(table.ready(2999).map((w) => w.info.workerId)).toEqual(['a']);
    expect(table.ready(3001)).toEqual([]);
    table.update(hb('a', 'stopping'), 4000);
    expect(table.health(4000)).toMatchObject({ ok: false, status: 'no workers' });
  });

  it('reports a failed model load when no worker is loading or ready', () => {
    const table = new WorkerTable();
    table.update(hb('a', 'failed'), 0);
    expect(table.health(0)).toMatchObject({ ok: false, status: 'model load failed' });
  });

  it('update() tells whether the state changed', () => {
    const table = new WorkerTable();
    expect(table.update(hb('a', 'loading'), 0)).toBe(true);
    expect(table.update(hb('a', 'loading'), 1)).toBe(false);
    expect(table.update(hb('a', 'ready'), 2)).toBe(true);
  });
});
