import { PriorityLock } from './PriorityLock';

const tick = () => new Promise((r) => setImmediate(r));

describe('PriorityLock', () => {
  it('grants waiting realtime acquirers before waiting batch acquirers, FIFO within a class', async () => {
    const lock = new PriorityLock();
    const order: string[] = [];
    const release = await lock.acquire('batch');
    const waits = [
      lock.acquire('batch').then((r) => (order.push('batch-1'), r())),
      lock.acquire('realtime').then((r) => (order.push('rt-1'), r())),
      lock.acquire('batch').then((r) => (order.push('batch-2'), r())),
      lock.acquire('realtime').then((r) => (order.push('rt-2'), r())),
    ];
    expect(lock.pending).toBe(4);
    release();
    await Promise.all(waits);
    expect(order).toEqual(['rt-1', 'rt-2', 'batch-1', 'batch-2']);
    expect(lock.held).toBe(false);
  });

  it('acquire() rejects with the abort reason and leaves the queue when its signal aborts', async () => {
    const lock = new PriorityLock();
    const release = await lock.acquire('realtime');
    const ac = new AbortController();
    const waiting = lock.acquire('batch', ac.signal);
    expect(lock.pending).toBe(1);
    ac.abort(new Error('gone'));
    await expect(waiting).rejects.toThrow('gone');
    expect(lock.pending).toBe(0);
    release();
    expect(lock.held).toBe(false);
    await expect(lock.acquire('batch', AbortSignal.abort(new Error('already')))).rejects.toThrow(
      'already',
    );
  });

  it('rejectAll() fails every waiter while the holder keeps the lock', async () => {
    const lock = new PriorityLock();
    const release = await lock.acquire('realtime');
    const a = lock.acquire('realtime');
    const b = lock.acquire('batch');
    lock.rejectAll(new Error('closed'));
    await expect(a).rejects.toThrow('closed');
    await expect(b).rejects.toThrow('closed');
    expect(lock.held).toBe(true);
    release();
    release(); // idempotent
    await tick();
    expect(lock.held).toBe(false);
  });
});
