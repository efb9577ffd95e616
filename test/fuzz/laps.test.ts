// Issue 15 item 1: a looping trace is advanced in whole laps at once; the
// result is the one of the trace written out lap after lap.
import { describe, expect, it } from 'vitest';
import { simulate } from '../../src/sim/simulate.js';
import type { Epoch, Trace } from '../../src/trace/model.js';

const US = 1000;
function trace(laps: number): Trace {
  const base: Epoch[] = [
    { t0: 0, t1: 3 * US, pages: Uint32Array.from([1, 2, 3, 40]) },
    { t0: 3 * US, t1: 5 * US, pages: Uint32Array.from([2, 7, 8]) },
    { t0: 5 * US, t1: 9 * US, pages: Uint32Array.from([9, 60, 61, 62, 63]) },
  ];
  const epochs: Epoch[] = [];
  for (let l = 0; l < laps; l++) for (const e of base) epochs.push({ t0: e.t0 + l * 9 * US, t1: e.t1 + l * 9 * US, pages: e.pages });
  return { header: { pageSize: 4096, nPages: 64, timeUnit: 'ns', epochLen: 3 * US, nEpochs: epochs.length, hasTimes: true, hasCounts: false, zeroAtStart: null, meta: {} }, epochs };
}

describe('whole laps', () => {
  it.each(['uniform', 'start', 'end'] as const)('write-time %s: looping a 9 µs trace = the trace written out 20000 times', async (writeTime) => {
    const opts = { method: 'qemu-precopy', bandwidth: 2 ** 20, writeTime, onTraceEnd: 'loop' as const };
    const t0 = Date.now();
    const looped = await simulate(trace(1), opts);
    const ms = Date.now() - t0;
    const unrolled = await simulate(trace(20000), opts);
    const { traceLooped, traceLoops, ...a } = looped as unknown as Record<string, unknown>;
    const { traceLooped: _l, traceLoops: _n, ...b } = unrolled as unknown as Record<string, unknown>;
    expect(a).toEqual(b);
    expect(traceLooped).toBe(true);
    expect(traceLoops).toBeGreaterThan(1000);
    expect(ms).toBeLessThan(5000);
  });
});
