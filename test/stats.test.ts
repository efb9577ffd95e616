// The statistics against known values.
import { describe, expect, it } from 'vitest';
import { bootstrapCI, medianOf } from '../src/stats/bootstrap.js';
import { holm } from '../src/stats/holm.js';
import { signedRankP } from '../src/stats/wilcoxon.js';
import { mulberry32 } from '../src/trace/random.js';

describe('Wilcoxon signed-rank', () => {
  // Hollander & Wolfe (1973) p. 29, R's ?wilcox.test: depression scale before/after. R: V = 40, p-value = 0.03906.
  const x = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30];
  const y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29];
  it('exact, n < 50 without ties: R gives p = 0.0390625', () => {
    expect(signedRankP(x, y)).toBeCloseTo(0.0390625, 10);
  });
  it('normal approximation with ties and a zero (dropped): hand-checked against R, p = 0.024530', () => {
    // wilcox.test(c(1,2,2,3,-1,0,4,4,5)) in R: V = 34.5, p-value = 0.02453 (with the correct = TRUE default).
    const d = [1, 2, 2, 3, -1, 0, 4, 4, 5];
    expect(signedRankP(d, d.map(() => 0))).toBeCloseTo(0.02453, 4);
  });
  it('a run that did not complete counts as +∞ and ranks beyond every finite difference', () => {
    // Method worse in all 8 pairs, one of them by +∞: as significant as all-finite worse pairs (exact p = 2/2^8).
    const a = [5, 6, 7, 8, 9, 10, 11, Infinity];
    const b = [1, 1, 1, 1, 1, 1, 1, 1];
    expect(signedRankP(a, b)).toBeCloseTo(2 / 256, 10);
    // Both failed: a zero difference, dropped; with a zero the normal approximation applies. By hand:
    // d = 1..5, V = 15, mean 7.5, var 5·6·11/24 = 13.75, z = (7.5 − 0.5)/√13.75 = 1.8878, p = 0.05906.
    expect(signedRankP([Infinity, 2, 3, 4, 5, 6], [Infinity, 1, 1, 1, 1, 1])).toBeCloseTo(0.05906, 4);
  });
});

describe('Holm', () => {
  it('equals R p.adjust(…, "holm")', () => {
    const got = holm([0.01, 0.02, 0.03, 0.04, 0.05]);
    [0.05, 0.08, 0.09, 0.09, 0.09].forEach((v, i) => expect(got[i]).toBeCloseTo(v, 12));
    // Input order kept, capped at 1, NaN left out of m.
    const g2 = holm([0.5, 0.001, NaN, 0.04]);
    expect(g2[1]).toBeCloseTo(0.003, 12);
    expect(g2[3]).toBeCloseTo(0.08, 12);
    expect(g2[0]).toBeCloseTo(0.5, 12);
    expect(Number.isNaN(g2[2]!)).toBe(true);
  });
});

describe('percentile bootstrap of the median', () => {
  it('covers the true median about 95 % of the time (Exp(1): median ln 2)', () => {
    const rng = mulberry32(12345);
    let covered = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      const xs = Array.from({ length: 40 }, () => -Math.log(1 - rng()));
      const [lo, hi] = bootstrapCI(xs, medianOf, { seed: t, resamples: 1000 });
      if (lo <= Math.LN2 && Math.LN2 <= hi) covered++;
    }
    expect(covered / trials).toBeGreaterThan(0.89);
    expect(covered / trials).toBeLessThan(0.99);
  });
  it('is reproducible for a seed, and differs for another', () => {
    const xs = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5];
    expect(bootstrapCI(xs, medianOf, { seed: 7 })).toEqual(bootstrapCI(xs, medianOf, { seed: 7 }));
    expect(medianOf(xs)).toBe(4);
  });
});
