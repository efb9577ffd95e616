/**
 * Percentile bootstrap confidence intervals (Efron & Tibshirani 1993, ch. 13),
 * seeded so the same seed gives the same interval: resample with replacement
 * `resamples` times (default 2000), compute the statistic each time, and take
 * the (1−level)/2 and (1+level)/2 quantiles of those values.
 *
 * @example bootstrapCI([1, 2, 3, 4, 5], median, { seed: 1 }) // → [lo, hi] around 3
 */
import { quantileSorted } from 'simple-statistics';
import { mulberry32 } from '../trace/random.js';

/** Options of a bootstrap. */
export interface BootstrapOptions {
  resamples?: number;
  level?: number;
  seed?: number;
}

/** The kind of interval this module computes, for reports. */
export const BOOTSTRAP_KIND = 'percentile bootstrap, 2000 resamples, seeded';

/** R-7 quantile of a sorted array. */
export function q7(sorted: ArrayLike<number>, p: number): number {
  return quantileSorted(Array.from(sorted), p);
}

/** Median (R-7, p = 0.5) of an unsorted array; NaN for none. */
export function medianOf(xs: ArrayLike<number>): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return q7(s, 0.5);
}

/** A percentile-bootstrap CI of stat(xs); [NaN, NaN] for an empty sample. */
export function bootstrapCI(xs: ArrayLike<number>, stat: (sample: Float64Array) => number, opts: BootstrapOptions = {}): [number, number] {
  const n = xs.length;
  if (n === 0) return [NaN, NaN];
  const B = opts.resamples ?? 2000;
  const level = opts.level ?? 0.95;
  const rng = mulberry32(opts.seed ?? 1);
  const sample = new Float64Array(n);
  const values = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) sample[i] = xs[Math.floor(rng() * n)]!;
    values[b] = stat(sample);
  }
  values.sort();
  return [q7(values, (1 - level) / 2), q7(values, (1 + level) / 2)];
}
