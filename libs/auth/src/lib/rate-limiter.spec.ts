import { MemoryRateLimiter, parseRate } from './rate-limiter';

describe('rate limiter logic', () => {
  it('parseRate() reads N/<duration> and refuses anything else', () => {
    expect(parseRate('50/1s')).toEqual({ limit: 50, windowMs: 1000 });
    expect(parseRate('600/1m')).toEqual({ limit: 600, windowMs: 60_000 });
    expect(parseRate('10/500ms')).toEqual({ limit: 10, windowMs: 500 });
    expect(parseRate('5/s')).toEqual({ limit: 5, windowMs: 1000 });
    expect(parseRate('2/3h')).toEqual({ limit: 2, windowMs: 3 * 3_600_000 });
    for (const bad of ['', '5', '5/', 'x/1s', '0/1s', '5/0s', '5/1d', '-1/1s'])
      expect(() => parseRate(bad)).toThrow();
  });

  it('a burst beyond the limit is refused with the time left in the window; the next window is served in full', () => {
    const l = new MemoryRateLimiter();
    const b = [{ key: 'ws:i:acme:ada', limit: 3, windowMs: 1000 }];
    const t0 = 10_000;
    expect([1, 2, 3, 4].map((i) => l.check(b, t0 + i).allowed)).toEqual([true, true, true, false]);
    expect(l.check(b, t0 + 250)).toEqual({
      allowed: false,
      retryAfterMs: 750,
      bucket: 'ws:i:acme:ada',
    });
    expect([1, 2, 3, 4].map((i) => l.check(b, t0 + 1000 + i).allowed)).toEqual([
      true,
      true,
      true,
      false,
    ]);
  });

  it('refused events count in no bucket, so one exhausted bucket does not drain the others', () => {
    const l = new MemoryRateLimiter();
    const identity = { key: 'id', limit: 1, windowMs: 1000 };
    const tenant = { key: 'tenant', limit: 3, windowMs: 1000 };
    expect(l.check([identity, tenant], 0).allowed).toBe(true);
    for (let i = 0; i < 5; i++) expect(l.check([identity, tenant], 1).bucket).toBe('id');
    const other = { key: 'id2', limit: 10, windowMs: 1000 };
    expect(l.check([other, tenant], 2).allowed).toBe(true);
    expect(l.check([other, tenant], 3).allowed).toBe(true);
    expect(l.check([other, tenant], 4)).toMatchObject({ allowed: false, bucket: 'tenant' });
  });

  it('keeps memory bounded: at most maxKeys counters', () => {
    const l = new MemoryRateLimiter(1000);
    for (let i = 0; i < 50_000; i++) l.check([{ key: `k${i}`, limit: 5, windowMs: 1000 }], 5000);
    expect(l.size).toBeLessThanOrEqual(1001);
  });
});
