/**
 * The summary of a comparison (DESIGN §5). Per trace × condition × method:
 * runs, completion and convergence rates, and for downtime, total time and
 * bytes the median, IQR (R-7 quartiles), mean and a 95 % percentile-bootstrap
 * CI of the median — over the runs that completed (runs that did not complete
 * are counted, not averaged). Against the baseline, per metric: paired median
 * difference and median per-pair ratio with percentile-bootstrap CIs over
 * pairs, the Wilcoxon signed-rank p-value, Holm-adjusted over one family per
 * metric (every method ≠ baseline × condition), and the win rate (pairs where
 * the method is lower; ties count half). A run that did not complete counts as
 * +∞ in pairs. Then the answer: per trace and condition, the method with the
 * least median downtime among those whose every run completed, and the Pareto
 * set of downtime × total time × bytes.
 */
import * as aq from 'arquero';
import { BOOTSTRAP_KIND, bootstrapCI, medianOf, q7 } from './bootstrap.js';
import type { CompareSpec, RunRow } from './compare.js';
import { holm } from './holm.js';
import { signedRankP } from './wilcoxon.js';

/** The metrics compared. */
export const METRICS = ['downtimeMs', 'totalTimeMs', 'transferredBytes'] as const;
/** One of METRICS. */
export type Metric = (typeof METRICS)[number];

/** Location and spread of one metric over a cell's completed runs. */
export interface Stat {
  median: number | null;
  q1: number | null;
  q3: number | null;
  mean: number | null;
  ci: [number, number] | null;
}

/** One trace × condition × method. */
export interface Cell {
  trace: string;
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  method: string;
  runs: number;
  completed: number;
  completionRate: number;
  convergenceRate: number;
  downtimeMs: Stat;
  totalTimeMs: Stat;
  transferredBytes: Stat;
  maxThrottlePct: number;
  guestStallMs: number | null;
  /** Medians under write-time=start and =end (the band), if run. */
  band: { start: Record<Metric, number | null>; end: Record<Metric, number | null> } | null;
}

/** One method vs the baseline, one metric, one condition. */
export interface Comparison {
  trace: string;
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  method: string;
  baseline: string;
  metric: Metric;
  pairs: number;
  medianDiff: number | null;
  medianDiffCI: [number, number] | null;
  ratio: number | null;
  ratioCI: [number, number] | null;
  pValue: number | null;
  pHolm: number | null;
  winRate: number | null;
}

/** A point of the answer. */
export interface Choice {
  trace: string;
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  method: string;
  downtimeMs: number;
  totalTimeMs: number;
  transferredBytes: number;
}

/** The whole summary (summary.json). */
export interface CompareSummary {
  schemaVersion: number;
  spec: CompareSpec;
  intervals: string;
  bootstrap: string;
  wilcoxon: string;
  recommendations: (Choice & { text: string })[];
  pareto: Choice[];
  cells: Cell[];
  comparisons: Comparison[];
}

const nn = (x: number) => (Number.isFinite(x) ? x : null);
const key = (r: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${r.trace}|${r.bandwidthBytesPerSec}|${r.downtimeLimitMs}`;

function metricOf(r: RunRow, m: Metric): number {
  if (!r.result.completed) return Infinity;
  const v = r.result[m];
  return v === null ? Infinity : v;
}

/** Seed for a bootstrap, derived from the comparison seed and a label (stable across shards). */
function subSeed(seed: number, label: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function stat(values: number[], seed: number): Stat {
  if (values.length === 0) return { median: null, q1: null, q3: null, mean: null, ci: null };
  const s = Float64Array.from(values).sort();
  const ci = bootstrapCI(values, medianOf, { seed });
  return { median: q7(s, 0.5), q1: q7(s, 0.25), q3: q7(s, 0.75), mean: values.reduce((a, b) => a + b, 0) / values.length, ci: [ci[0], ci[1]] };
}

/** Summarise the runs of a comparison (sorted by grid index first, so shards merge exactly). */
export function summarize(spec: CompareSpec, allRuns: RunRow[]): CompareSummary {
  const runs = [...allRuns].sort((a, b) => a.index - b.index);
  const main = runs.filter((r) => !r.band);
  // arquero for the per-cell counts and rates.
  const table = aq.from(main.map((r) => ({
    k: key(r), method: r.method, completed: r.result.completed ? 1 : 0, converged: r.result.converged ? 1 : 0,
    throttle: r.result.maxThrottlePct,
  })));
  const counts = table
    .groupby('k', 'method')
    .rollup({ runs: aq.op.count(), completed: aq.op.sum('completed'), converged: aq.op.sum('converged'), throttle: aq.op.max('throttle') })
    .objects() as { k: string; method: string; runs: number; completed: number; converged: number; throttle: number }[];
  const countOf = new Map(counts.map((c) => [`${c.k}|${c.method}`, c]));

  const cells: Cell[] = [];
  const conditions = [...new Map(main.map((r) => [key(r), r])).values()];
  for (const c of conditions) {
    for (const m of spec.methods) {
      const mine = main.filter((r) => key(r) === key(c) && r.method === m);
      const done = mine.filter((r) => r.result.completed);
      const cnt = countOf.get(`${key(c)}|${m}`)!;
      const bandOf = (wt: 'start' | 'end') => {
        const b = runs.filter((r) => r.band && r.writeTime === wt && key(r) === key(c) && r.method === m && r.result.completed);
        return Object.fromEntries(METRICS.map((x) => [x, b.length ? nn(medianOf(b.map((r) => r.result[x] as number))) : null])) as Record<Metric, number | null>;
      };
      const stalls = done.map((r) => r.result.guestStallMs);
      cells.push({
        trace: c.trace, bandwidthBytesPerSec: c.bandwidthBytesPerSec, downtimeLimitMs: c.downtimeLimitMs, method: m,
        runs: cnt.runs, completed: cnt.completed, completionRate: cnt.completed / cnt.runs, convergenceRate: cnt.converged / cnt.runs,
        downtimeMs: stat(done.map((r) => r.result.downtimeMs!), subSeed(spec.seed, `${key(c)}|${m}|d`)),
        totalTimeMs: stat(done.map((r) => r.result.totalTimeMs), subSeed(spec.seed, `${key(c)}|${m}|t`)),
        transferredBytes: stat(done.map((r) => r.result.transferredBytes), subSeed(spec.seed, `${key(c)}|${m}|b`)),
        maxThrottlePct: cnt.throttle,
        guestStallMs: stalls.length ? medianOf(stalls) : null,
        band: spec.writeTimeBand ? { start: bandOf('start'), end: bandOf('end') } : null,
      });
    }
  }

  // Paired comparisons against the baseline.
  const comparisons: Comparison[] = [];
  for (const c of conditions) {
    const base = new Map(main.filter((r) => key(r) === key(c) && r.method === spec.baseline).map((r) => [r.replicate, r]));
    for (const m of spec.methods) {
      if (m === spec.baseline) continue;
      const pairs = main.filter((r) => key(r) === key(c) && r.method === m && base.has(r.replicate)).map((r) => [r, base.get(r.replicate)!] as const);
      for (const metric of METRICS) {
        const x = pairs.map(([a]) => metricOf(a, metric));
        const y = pairs.map(([, b]) => metricOf(b, metric));
        const diffs = x.map((v, i) => (v === y[i] ? 0 : v - y[i]!));
        const ratios = x.map((v, i) => (v === y[i] ? 1 : v / y[i]!)).filter((v) => !Number.isNaN(v));
        const seed = subSeed(spec.seed, `${key(c)}|${m}|${metric}`);
        const md = diffs.length ? medianOf(diffs) : NaN;
        const mr = ratios.length ? medianOf(ratios) : NaN;
        const dci = diffs.length ? bootstrapCI(diffs, medianOf, { seed }) : null;
        const rci = ratios.length ? bootstrapCI(ratios, medianOf, { seed: seed + 1 }) : null;
        const wins = x.reduce((s, v, i) => s + (v < y[i]! ? 1 : v === y[i] ? 0.5 : 0), 0);
        comparisons.push({
          trace: c.trace, bandwidthBytesPerSec: c.bandwidthBytesPerSec, downtimeLimitMs: c.downtimeLimitMs,
          method: m, baseline: spec.baseline, metric, pairs: pairs.length,
          medianDiff: nn(md), medianDiffCI: dci ? [dci[0], dci[1]] : null,
          ratio: nn(mr), ratioCI: rci ? [rci[0], rci[1]] : null,
          pValue: pairs.length ? nn(signedRankP(x, y)) : null, pHolm: null,
          winRate: pairs.length ? wins / pairs.length : null,
        });
      }
    }
  }
  for (const metric of METRICS) {
    const fam = comparisons.filter((c) => c.metric === metric);
    const adj = holm(fam.map((c) => c.pValue ?? NaN));
    fam.forEach((c, i) => { c.pHolm = nn(adj[i]!); });
  }

  // The answer: per trace × condition, least median downtime among methods whose every run completed.
  const recommendations: CompareSummary['recommendations'] = [];
  const pareto: Choice[] = [];
  for (const c of conditions) {
    const ok = cells.filter((x) => key(x) === key(c) && x.completionRate === 1 && x.downtimeMs.median !== null);
    const choices: Choice[] = ok.map((x) => ({
      trace: x.trace, bandwidthBytesPerSec: x.bandwidthBytesPerSec, downtimeLimitMs: x.downtimeLimitMs, method: x.method,
      downtimeMs: x.downtimeMs.median!, totalTimeMs: x.totalTimeMs.median!, transferredBytes: x.transferredBytes.median!,
    }));
    const best = [...choices].sort((a, b) => a.downtimeMs - b.downtimeMs || a.totalTimeMs - b.totalTimeMs || a.method.localeCompare(b.method))[0];
    if (best) {
      recommendations.push({
        ...best,
        text: `${best.trace} at ${fmtBw(best.bandwidthBytesPerSec)}, downtime-limit ${best.downtimeLimitMs} ms: ${best.method} — median downtime ${best.downtimeMs.toFixed(1)} ms, total ${(best.totalTimeMs / 1000).toFixed(2)} s, ${(best.transferredBytes / 1e6).toFixed(1)} MB, every run completed`,
      });
    }
    for (const a of choices) {
      const dominated = choices.some((b) => b !== a && b.downtimeMs <= a.downtimeMs && b.totalTimeMs <= a.totalTimeMs && b.transferredBytes <= a.transferredBytes
        && (b.downtimeMs < a.downtimeMs || b.totalTimeMs < a.totalTimeMs || b.transferredBytes < a.transferredBytes));
      if (!dominated) pareto.push(a);
    }
  }

  return {
    schemaVersion: 1,
    spec,
    intervals: `95 % CIs cover ${spec.replicates} stratified start offsets within each recording (equal spacing, seeded phase), the same for every method; they do not cover other recordings or hosts`,
    bootstrap: BOOTSTRAP_KIND,
    wilcoxon: 'two-sided signed-rank; exact for n < 50 without ties or zeros, else normal with tie and continuity corrections; zeros dropped; runs that did not complete count as +∞',
    recommendations,
    pareto,
    cells,
    comparisons,
  };
}

/** "32 MiB/s"-style bandwidth. */
export function fmtBw(b: number): string {
  if (b % 2 ** 30 === 0) return `${b / 2 ** 30} GiB/s`;
  if (b % 2 ** 20 === 0) return `${b / 2 ** 20} MiB/s`;
  return `${+(b / 1e6).toFixed(2)} MB/s`;
}
