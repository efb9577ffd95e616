/**
 * Holm's step-down adjustment of p-values (Holm 1979): sort ascending,
 * p_(i) × (m − i + 1), running maximum, capped at 1; returned in the input
 * order. Equal to R's p.adjust(p, "holm"). NaN p-values stay NaN and are not
 * counted in m.
 *
 * @example holm([0.01, 0.02, 0.03, 0.04, 0.05]) // → [0.05, 0.08, 0.09, 0.09, 0.09]
 */
export function holm(p: readonly number[]): number[] {
  const idx = p.map((v, i) => [v, i] as const).filter(([v]) => !Number.isNaN(v)).sort((a, b) => a[0] - b[0]);
  const m = idx.length;
  const out = p.map(() => NaN);
  let running = 0;
  idx.forEach(([v, i], k) => {
    running = Math.max(running, Math.min(1, v * (m - k)));
    out[i] = running;
  });
  return out;
}
