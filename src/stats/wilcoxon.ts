/**
 * The Wilcoxon signed-rank test on paired samples (@stdlib/stats-wilcoxon,
 * checked against R's wilcox.test in test/stats.test.ts). Convention (DESIGN
 * §5): two-sided; exact for n < 50 without ties or zeros, else the normal
 * approximation with tie and continuity corrections; zero differences dropped
 * (Wilcoxon's convention). A run that did not complete counts as +∞: such
 * differences rank beyond every finite one, and a pair where both runs failed
 * is a zero.
 */
import wilcoxonTest from '@stdlib/stats-wilcoxon';

/** Two-sided p-value of the signed-rank test of x − y; NaN with fewer than one non-zero pair. */
export function signedRankP(x: readonly number[], y: readonly number[]): number {
  const d: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const a = x[i]!;
    const b = y[i]!;
    if (a === b) continue; // zero difference (also ∞ vs ∞)
    d.push(a - b);
  }
  if (d.length === 0) return NaN;
  // ±∞ differences rank above every finite one: replace them by finite values that keep the order.
  const finiteMax = Math.max(0, ...d.filter(Number.isFinite).map(Math.abs));
  const big = finiteMax * 4 + 1;
  const dd = d.map((v) => (v === Infinity ? big : v === -Infinity ? -big : v));
  const hasTies = new Set(dd.map(Math.abs)).size !== dd.length;
  const r = (wilcoxonTest as unknown as (x: number[], opts: Record<string, unknown>) => { pValue: number })(dd, {
    exact: dd.length < 50 && !hasTies,
    correction: true,
    zeroMethod: 'wilcox',
  });
  return r.pValue;
}
