/**
 * The Wilcoxon signed-rank test on paired samples (exact null distribution
 * from @stdlib/stats-wilcoxon; the normal approximation computed here as R
 * does it; both checked against R's wilcox.test in test/stats.test.ts). Convention (docs/statistics.md): two-sided; exact for n < 50 without ties or zeros, else the normal
 * approximation with tie and continuity corrections; zero differences dropped
 * (Wilcoxon's convention). A run that did not complete counts as +∞: such
 * differences rank beyond every finite one, and a pair where both runs failed
 * is a zero.
 */
import wilcoxonTest from '@stdlib/stats-wilcoxon';

/** Two-sided p-value of the signed-rank test of x − y; NaN with fewer than one non-zero pair. */
export function signedRankP(x: readonly number[], y: readonly number[]): number {
  const d: number[] = [];
  let zeros = 0;
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = y[i]!;
    if (a === b) { zeros++; continue; } // zero difference (also ∞ vs ∞): dropped
    d.push(a - b);
  }
  if (d.length === 0) return NaN;
  // ±∞ differences rank above every finite one: replace them by finite values that keep the order.
  const finiteMax = Math.max(0, ...d.filter(Number.isFinite).map(Math.abs));
  const big = finiteMax * 4 + 1;
  const dd = d.map((v) => (v === Infinity ? big : v === -Infinity ? -big : v));
  const hasTies = new Set(dd.map(Math.abs)).size !== dd.length;
  // One non-zero pair: V is 0 or 1 with equal chance, so the two-sided p is 1 (as R's wilcox.test gives).
  if (dd.length === 1) return 1;
  if (dd.length < 50 && !hasTies && zeros === 0) {
    // The exact null distribution (@stdlib computes it for n < 50 without ties); a two-sided p doubles
    // the smaller tail, which overshoots 1 when V sits at the centre: cap it, as R does.
    return Math.min(1, (wilcoxonTest as unknown as (x: number[]) => { pValue: number })(dd).pValue);
  }
  return normalApproxP(dd);
}

/**
 * The normal approximation as R's wilcox.test(exact = FALSE, correct = TRUE):
 * V = sum of the ranks (ties averaged) of the positive differences,
 * var = n(n+1)(2n+1)/24 − Σ(t³ − t)/48, z = (V − n(n+1)/4 − ½·sign) / √var.
 */
export function normalApproxP(d: readonly number[]): number {
  const n = d.length;
  const abs = d.map((v, i) => [Math.abs(v), i] as const).sort((a, b) => a[0] - b[0]);
  const rank = new Float64Array(n);
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && abs[j + 1]![0] === abs[i]![0]) j++;
    const r = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) rank[abs[k]![1]] = r;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  let v = 0;
  for (let i = 0; i < n; i++) if (d[i]! > 0) v += rank[i]!;
  const mean = (n * (n + 1)) / 4;
  const variance = (n * (n + 1) * (2 * n + 1)) / 24 - tieTerm / 48;
  if (variance <= 0) return 1;
  const diff = v - mean;
  const z = (diff - 0.5 * Math.sign(diff)) / Math.sqrt(variance);
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** Complementary error function (Numerical Recipes erfcc, |relative error| < 1.2e−7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
    + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}
