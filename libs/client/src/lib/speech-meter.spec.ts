import { LevelGate, rmsDb } from './speech-meter';

function feed(gate: LevelGate, frames: Array<[number, number]>) {
  for (const [db, at] of frames) gate.push(db, at);
}

/** `n` frames of `db` every 20 ms from `from`. */
const run = (db: number, from: number, n: number): Array<[number, number]> =>
  Array.from({ length: n }, (_, i) => [db, from + i * 20]);

describe('LevelGate', () => {
  it('reports a burst from its first to its last loud frame, once the hangover of silence has passed', () => {
    const gate = new LevelGate({ thresholdDb: -45, hangoverMs: 200, minSpeechMs: 100 });
    const started: number[] = [];
    const ended: Array<{ at: number; startedAt: number; durationMs: number }> = [];
    gate.on('speechStarted', (e) => started.push(e.at));
    gate.on('speechEnded', (e) => ended.push(e));
    feed(gate, run(-80, 0, 10)); // silence 0..180
    feed(gate, run(-20, 200, 50)); // speech 200..1180
    expect(started).toEqual([200]);
    expect(gate.speaking).toBe(true);
    feed(gate, run(-80, 1200, 9)); // 1200..1360: within the hangover
    expect(ended).toEqual([]);
    feed(gate, run(-80, 1380, 2)); // 1380 is 200 ms after the last loud frame
    expect(ended).toEqual([{ at: 1180, startedAt: 200, durationMs: 980 }]);
    expect(gate.speaking).toBe(false);
  });

  it('ignores clicks shorter than the minimum speech length', () => {
    const gate = new LevelGate({ hangoverMs: 100, minSpeechMs: 100 });
    const ended: unknown[] = [];
    gate.on('speechEnded', (e) => ended.push(e));
    feed(gate, run(-10, 0, 3)); // 40 ms
    feed(gate, run(-90, 60, 20));
    expect(ended).toEqual([]);
    expect(gate.speaking).toBe(false);
  });

  it('a short dip inside speech does not split the burst', () => {
    const gate = new LevelGate({ hangoverMs: 300, minSpeechMs: 60 });
    const ended: Array<{ startedAt: number }> = [];
    gate.on('speechEnded', (e) => ended.push(e));
    feed(gate, [
      ...run(-20, 0, 10),
      ...run(-70, 200, 5),
      ...run(-20, 300, 10),
      ...run(-70, 500, 20),
    ]);
    expect(ended).toEqual([{ at: 480, startedAt: 0, durationMs: 480 }]);
  });
});

describe('rmsDb', () => {
  it('is 0 dBFS for a full-scale square wave, -100 for silence, about -6 dB for half scale', () => {
    expect(rmsDb([1, -1, 1, -1])).toBeCloseTo(0, 5);
    expect(rmsDb(new Float32Array(128))).toBe(-100);
    expect(rmsDb([0.5, -0.5])).toBeCloseTo(-6.02, 1);
  });
});
