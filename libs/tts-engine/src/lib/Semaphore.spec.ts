import { Semaphore } from './Semaphore';
import { TtsError } from './TtsError';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Semaphore', () => {
  it('grants permits up to the limit and then in FIFO order as they are released', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    const r1 = await s.acquire();
    const r2 = await s.acquire();
    const waiters = ['a', 'b', 'c'].map((name) =>
      s.acquire().then((release) => {
        order.push(name);
        return release;
      }),
    );
    await tick();
    expect(order).toEqual([]);
    expect(s.queued).toBe(3);
    r1();
    r1(); // double release is ignored
    await tick();
    expect(order).toEqual(['a']);
    r2();
    await tick();
    expect(order).toEqual(['a', 'b']);
    (await waiters[0])();
    await tick();
    expect(order).toEqual(['a', 'b', 'c']);
    expect(s.inUse).toBe(2);
  });

  it('acquire() rejects with BUSY when the queue is full', async () => {
    const s = new Semaphore(1, 1);
    await s.acquire();
    const queued = s.acquire();
    await expect(s.acquire()).rejects.toMatchObject({ code: 'BUSY', retryable: true });
    s.close();
    await expect(queued).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('acquire() rejects with ABORTED when its signal fires while waiting, and frees the queue slot', async () => {
    const s = new Semaphore(1, 1);
    const release = await s.acquire();
    const ac = new AbortController();
    const waiting = s.acquire(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(TtsError);
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    expect(s.queued).toBe(0);
    const next = s.acquire();
    release();
    await expect(next).resolves.toBeInstanceOf(Function);
    await expect(s.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
  });
});
