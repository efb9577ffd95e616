// Derived views on tiny traces with hand-computed answers.
import { beforeAll, describe, expect, it } from 'vitest';
import { Kernel } from '../src/kernel/index.js';
import { summarizeTrace } from '../src/trace/views.js';
import { ep, header } from './helpers.js';

const MS = 1e6;
let k: Kernel;
beforeAll(async () => { k = await Kernel.load(); });

async function* stream<T>(xs: T[]) { yield* xs; }

describe('summarizeTrace', () => {
  // e0 {1,2}, e1 {2,3}, e2 {4}, e3 {1,5,6}, 100 ms each.
  const h = header({ nPages: 10, epochLen: 100 * MS, meta: { timeZeroNs: 150 * MS } });
  const epochs = [ep(0, 100 * MS, [1, 2]), ep(100 * MS, 200 * MS, [2, 3]), ep(200 * MS, 300 * MS, [4]), ep(300 * MS, 400 * MS, [1, 5, 6])];

  it('per-epoch sizes, distinct pages, hot set, duration and t = 0', async () => {
    const s = await summarizeTrace(h, stream(epochs), k, { windowsMs: [] });
    expect(s.epochs).toBe(4);
    expect(s.durationMs).toBe(400);
    expect(s.timeZeroMs).toBe(150);
    expect(s.pagesPerEpoch).toEqual({ min: 1, median: 2, max: 3, mean: 2 });
    expect(s.distinctPages).toBe(6);
    expect(s.hotSetPages).toBe(2); // pages 1 and 2 are written in 2 of 4 epochs
    expect((await summarizeTrace(h, stream(epochs), k, { hotThreshold: 0.25 })).hotSetPages).toBe(6);
  });

  it('W(t): windows count the epochs whose midpoint they contain, averaged over starts that fit', async () => {
    const s = await summarizeTrace(h, stream(epochs), k, { windowsMs: [100, 200, 400, 500] });
    expect(s.wt).toEqual([
      { windowMs: 100, pages: 2, starts: 4 }, // 2, 2, 1, 3
      { windowMs: 200, pages: 10 / 3, starts: 3 }, // {1,2,3}, {2,3,4}, {1,4,5,6}
      { windowMs: 400, pages: 6, starts: 1 },
      { windowMs: 500, pages: null, starts: 0 },
    ]);
  });

  it('W(t) with uneven epochs', async () => {
    // e0 [0,50) {1}, e1 [50,250) {2}, e2 [250,300) {3}: a 100 ms window from 0 holds e0 only
    // (e1's midpoint is at 150); from 50 it holds e1 only; from 250 it does not fit (ends at 350 > 300).
    const u = [ep(0, 50 * MS, [1]), ep(50 * MS, 250 * MS, [2]), ep(250 * MS, 300 * MS, [3])];
    const s = await summarizeTrace(h, stream(u), k, { windowsMs: [100, 300] });
    expect(s.wt[0]).toEqual({ windowMs: 100, pages: 1, starts: 2 });
    expect(s.wt[1]).toEqual({ windowMs: 300, pages: 3, starts: 1 });
  });
});
