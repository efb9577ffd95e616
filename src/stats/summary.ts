/**
 * The summary of a comparison (docs/statistics.md). Per trace × condition × method:
 * runs, completion and convergence rates, and for downtime, total time, bytes
 * and the guest's cost (time lost to throttling, dirty-limit or post-copy
 * faults; setup not counted) the median, IQR (R-7 quartiles) and a 95 %
 * percentile-bootstrap CI of the median over *all* runs, a run that did not
 * complete counting as +∞ (a median that is +∞ — under half completed — is
 * null, shown "–"; never a median of the survivors alone); the mean only when
 * every run completed. Against the baseline, per metric: paired median
 * difference and median per-pair ratio with percentile-bootstrap CIs over
 * pairs, the Wilcoxon signed-rank p-value, Holm-adjusted over one family per
 * trace × condition × metric (every method ≠ baseline), and the win rate.
 *
 * The answer, per trace × condition, is a tie group: the best method by the
 * objective (default: least median downtime) among those that complete every
 * run and keep their median downtime within the downtime limit, plus every
 * such method whose paired test against it (Wilcoxon, Holm over that family)
 * is not significant at 0.05 or whose median equals it — said "tied", never
 * broken by name. The Pareto set of downtime × total time × bytes treats
 * differences inside the CIs as ties. Flags per cell: over-limit, stall
 * (the guest loses more to the method than to its downtime), looped (runs that
 * ran past the trace's end and replayed it).
 */
import * as aq from 'arquero';
import { BOOTSTRAP_KIND, bootstrapCI, medianOf } from './bootstrap.js';
import { mulberry32 } from '../trace/random.js';
import type { CompareSpec, RunRow } from './compare.js';
import { holm } from './holm.js';
import { signedRankP } from './wilcoxon.js';
import { getMethod } from '../sim/methods/index.js';

/** Where a method ships ('qemu', 'xen') or null for research methods. */
function shipsOf(id: string): 'qemu' | 'xen' | null {
  return getMethod(id.split('/')[0]!)?.ships ?? null;
}

/** The metrics compared. */
export const METRICS = ['downtimeMs', 'totalTimeMs', 'transferredBytes', 'guestStallMs'] as const;

/** What the answer minimises. */
export type Objective = 'downtime' | 'time' | 'bytes' | 'guest-cost';
/** The objectives, for --objective. */
export const OBJECTIVES: readonly Objective[] = ['downtime', 'time', 'bytes', 'guest-cost'];
/** The metric of each objective. */
export const OBJECTIVE_METRIC: Record<Objective, Metric> = { downtime: 'downtimeMs', time: 'totalTimeMs', bytes: 'transferredBytes', 'guest-cost': 'guestStallMs' };

/** Cell flags, one short word each (the legend is FLAG_LEGEND). */
export type Flag = 'over-limit' | 'stall' | 'looped';
/** What each flag means. */
export const FLAG_LEGEND: Record<Flag, string> = {
  'over-limit': 'median downtime above the downtime limit',
  stall: 'the guest loses more time to the method (throttle, dirty-limit, post-copy faults) than to its downtime',
  looped: 'some runs ran past the end of the trace and replayed it from its start',
};
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
  /** Guest time lost to the method (setup not counted), ms. */
  guestStallMs: Stat;
  maxThrottlePct: number;
  /** Where QEMU/libvirt or Xen ship the method today; null: a research method. */
  ships: 'qemu' | 'xen' | null;
  flags: Flag[];
  /** Runs that replayed the trace from its start, and the most times one did. */
  loopedRuns: number;
  maxLoops: number;
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

/** A member of a tie group. */
export interface Tied {
  method: string;
  ships: 'qemu' | 'xen' | null;
  /** The objective's median. */
  median: number;
  /** Holm-adjusted p of the paired test against the best (null for the best itself). */
  pHolm: number | null;
  flags: Flag[];
}

/** The answer for one trace × condition. */
export interface Recommendation extends Choice {
  objective: Objective;
  /** The best and every method not significantly different from it (first: the best). */
  tied: Tied[];
  /** When the design cannot reach p < 0.05, why and how many start offsets would. */
  power: string | null;
  text: string;
}

/**
 * A workload (repeat recordings grouped) × condition × method: recordings are
 * the unit. The median pools every run of every recording (failed runs +∞);
 * its CI is a cluster bootstrap (resample recordings, then start offsets
 * within each); against the baseline, the paired test runs on per-recording
 * medians.
 */
export interface WorkloadCell {
  workload: string;
  recordings: string[];
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  method: string;
  runs: number;
  completionRate: number;
  downtimeMs: Stat;
  totalTimeMs: Stat;
  transferredBytes: Stat;
  /** Per recording: the median downtime (null: +∞). */
  perRecordingDowntimeMs: (number | null)[];
  /** The paired signed-rank test on per-recording median downtimes against the baseline, Holm over the workload × condition family. */
  downtimePHolm: number | null;
}

/** The whole summary (summary.json). */
export interface CompareSummary {
  schemaVersion: number;
  spec: CompareSpec;
  intervals: string;
  bootstrap: string;
  wilcoxon: string;
  objective: Objective;
  flagLegend: Record<Flag, string>;
  recommendations: Recommendation[];
  /** Repeat recordings grouped (empty without --workload or repeats named NAME-rN). */
  workloads: WorkloadCell[];
  /** What the workload intervals cover. */
  workloadIntervals: string | null;
  pareto: Choice[];
  cells: Cell[];
  comparisons: Comparison[];
}

const nn = (x: number) => (Number.isFinite(x) ? x : null);
const key = (r: { trace: string; bandwidthBytesPerSec: number; downtimeLimitMs: number }) => `${r.trace}|${r.bandwidthBytesPerSec}|${r.downtimeLimitMs}`;

function metricOf(r: RunRow, m: Metric): number {
  if (!r.result.completed) return Infinity;
  const v = r.result[m];
  return v === null || v === undefined ? Infinity : v;
}

/** Seed for a bootstrap, derived from the comparison seed and a label (stable across shards). */
function subSeed(seed: number, label: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** R-7 quantile that lets +∞ through (an infinite neighbour makes the quantile +∞). */
export function q7Inf(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const a = sorted[lo]!;
  const b = sorted[Math.min(sorted.length - 1, lo + 1)]!;
  if (h === lo || a === b) return a;
  if (!Number.isFinite(b)) return Infinity;
  return a + (h - lo) * (b - a);
}

/** Median that lets +∞ through. */
export function medianInf(xs: ArrayLike<number>): number {
  return xs.length ? q7Inf(Float64Array.from(xs).sort(), 0.5) : NaN;
}

/** Location and spread over all runs, +∞ for those that did not complete. */
function stat(values: number[], seed: number): Stat {
  if (values.length === 0) return { median: null, q1: null, q3: null, mean: null, ci: null };
  const s = Float64Array.from(values).sort();
  const ci = bootstrapCI(values, medianInf, { seed });
  const fin = (x: number) => (Number.isFinite(x) ? x : null);
  const allDone = values.every(Number.isFinite);
  const m = fin(q7Inf(s, 0.5));
  return {
    median: m, q1: fin(q7Inf(s, 0.25)), q3: fin(q7Inf(s, 0.75)),
    mean: allDone ? values.reduce((a, b) => a + b, 0) / values.length : null,
    ci: m === null ? null : [ci[0], Number.isFinite(ci[1]) ? ci[1] : Infinity] as [number, number],
  };
}

/** Smallest two-sided p the exact signed-rank test can give with n pairs. */
export function smallestExactP(n: number): number {
  return n <= 0 ? 1 : Math.min(1, 2 / 2 ** n);
}

/** The fewest pairs with which a family of m Holm-adjusted tests can reach p < alpha. */
export function pairsNeeded(m: number, alpha = 0.05): number {
  let n = 1;
  while (Math.max(1, m) * smallestExactP(n) >= alpha) n++;
  return n;
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
      const cnt = countOf.get(`${key(c)}|${m}`)!;
      const bandOf = (wt: 'start' | 'end') => {
        const b = runs.filter((r) => r.band && r.writeTime === wt && key(r) === key(c) && r.method === m && r.result.completed);
        return Object.fromEntries(METRICS.map((x) => [x, b.length ? nn(medianOf(b.map((r) => r.result[x] as number))) : null])) as Record<Metric, number | null>;
      };
      const looped = mine.filter((r) => r.result.traceLoops > 0);
      const cell: Cell = {
        trace: c.trace, bandwidthBytesPerSec: c.bandwidthBytesPerSec, downtimeLimitMs: c.downtimeLimitMs, method: m,
        runs: cnt.runs, completed: cnt.completed, completionRate: cnt.completed / cnt.runs, convergenceRate: cnt.converged / cnt.runs,
        downtimeMs: stat(mine.map((r) => metricOf(r, 'downtimeMs')), subSeed(spec.seed, `${key(c)}|${m}|d`)),
        totalTimeMs: stat(mine.map((r) => metricOf(r, 'totalTimeMs')), subSeed(spec.seed, `${key(c)}|${m}|t`)),
        transferredBytes: stat(mine.map((r) => metricOf(r, 'transferredBytes')), subSeed(spec.seed, `${key(c)}|${m}|b`)),
        guestStallMs: stat(mine.map((r) => metricOf(r, 'guestStallMs')), subSeed(spec.seed, `${key(c)}|${m}|g`)),
        maxThrottlePct: cnt.throttle,
        ships: shipsOf(m),
        flags: [],
        loopedRuns: looped.length,
        maxLoops: Math.max(0, ...looped.map((r) => r.result.traceLoops)),
        band: spec.writeTimeBand ? { start: bandOf('start'), end: bandOf('end') } : null,
      };
      const limit = Math.max(c.downtimeLimitMs, ...(spec.downtimeSteps ?? []).map((x) => x.limitMs));
      if (cell.downtimeMs.median !== null && cell.downtimeMs.median > limit) cell.flags.push('over-limit');
      const g = cell.guestStallMs.median;
      if (g !== null && g >= 1 && g > (cell.downtimeMs.median ?? 0)) cell.flags.push('stall');
      if (cell.loopedRuns > 0) cell.flags.push('looped');
      cells.push(cell);
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
  // Holm over one family per trace × condition × metric (every method ≠ baseline).
  for (const c of conditions) {
    for (const metric of METRICS) {
      const fam = comparisons.filter((x) => key(x) === key(c) && x.metric === metric);
      const adj = holm(fam.map((x) => x.pValue ?? NaN));
      fam.forEach((x, i) => { x.pHolm = nn(adj[i]!); });
    }
  }

  // The answer: per trace × condition, a tie group under the objective.
  const objective: Objective = spec.objective ?? 'downtime';
  const om = OBJECTIVE_METRIC[objective];
  const recommendations: Recommendation[] = [];
  const pareto: Choice[] = [];
  for (const c of conditions) {
    const here = cells.filter((x) => key(x) === key(c));
    const ok = here.filter((x) => x.completionRate === 1 && !x.flags.includes('over-limit') && x[om].median !== null
      && (!spec.deployable || x.ships === 'qemu'));
    const choiceOf = (x: Cell): Choice => ({
      trace: x.trace, bandwidthBytesPerSec: x.bandwidthBytesPerSec, downtimeLimitMs: x.downtimeLimitMs, method: x.method,
      downtimeMs: x.downtimeMs.median!, totalTimeMs: x.totalTimeMs.median!, transferredBytes: x.transferredBytes.median!,
    });
    const ranked = [...ok].sort((a, b) => a[om].median! - b[om].median!);
    const best = ranked[0];
    if (best) {
      const pairsOf = (m: string) => new Map(main.filter((r) => key(r) === key(c) && r.method === m).map((r) => [r.replicate, r]));
      const b = pairsOf(best.method);
      const others = ranked.slice(1);
      const ps = others.map((o) => {
        const a = pairsOf(o.method);
        const reps = [...a.keys()].filter((k) => b.has(k));
        return signedRankP(reps.map((k) => metricOf(a.get(k)!, om)), reps.map((k) => metricOf(b.get(k)!, om)));
      });
      const adj = holm(ps.map((p) => (Number.isNaN(p) ? 1 : p)));
      const tied: Tied[] = [{ method: best.method, ships: best.ships, median: best[om].median!, pHolm: null, flags: best.flags }];
      others.forEach((o, i) => {
        if (o[om].median === best[om].median || !(adj[i]! < 0.05)) tied.push({ method: o.method, ships: o.ships, median: o[om].median!, pHolm: nn(adj[i]!), flags: o.flags });
      });
      const n = Math.min(...others.map((o) => o.runs), best.runs);
      const power = others.length && Math.max(others.length, 1) * smallestExactP(n) >= 0.05
        ? `with ${n} start offsets no paired test among these ${others.length + 1} methods can reach p < 0.05 (smallest Holm-adjusted p ${fmtP(others.length * smallestExactP(n))}): every method that completes is tied; --replicates ${pairsNeeded(others.length)} or more could separate them`
        : null;
      recommendations.push({ ...choiceOf(best), objective, tied, power, text: recommendationText(best, tied, objective, om, power) });
    }
    // Pareto: a method is dominated when another is better beyond the CIs in one metric and worse beyond them in none.
    const done = here.filter((x) => x.completionRate === 1 && x.downtimeMs.ci !== null && x.totalTimeMs.ci !== null && x.transferredBytes.ci !== null);
    const ms = ['downtimeMs', 'totalTimeMs', 'transferredBytes'] as const;
    for (const a of done) {
      const dominated = done.some((o) => o !== a
        && ms.every((k) => !(o[k].ci![0] > a[k].ci![1]))
        && ms.some((k) => o[k].ci![1] < a[k].ci![0]));
      if (!dominated) pareto.push(choiceOf(a));
    }
  }

  const workloads = workloadCells(spec, main);

  return {
    schemaVersion: 1,
    spec,
    intervals: INTERVALS(spec.replicates),
    bootstrap: BOOTSTRAP_KIND,
    wilcoxon: 'two-sided signed-rank; exact for n < 50 without ties or zeros, else normal with tie and continuity corrections; zeros dropped; runs that did not complete count as +∞; Holm over one family per trace × condition × metric',
    objective,
    flagLegend: FLAG_LEGEND,
    recommendations,
    workloads,
    workloadIntervals: workloads.length ? 'workload CIs: a cluster bootstrap over recordings, then start offsets within each (2000 resamples, seeded): they cover other recordings of the workload on this host, not other hosts; tests against the baseline are paired on per-recording medians' : null,
    pareto,
    cells,
    comparisons,
  };
}

/** A cluster-bootstrap CI of the median: resample clusters, then members within each. */
export function clusterBootstrapCI(clusters: number[][], seed: number, resamples = 2000): [number, number] {
  const rng = mulberry32(seed);
  const k = clusters.length;
  const values = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    const pool: number[] = [];
    for (let i = 0; i < k; i++) {
      const c = clusters[Math.floor(rng() * k)]!;
      for (let j = 0; j < c.length; j++) pool.push(c[Math.floor(rng() * c.length)]!);
    }
    values[b] = medianInf(pool);
  }
  values.sort();
  return [q7Inf(values, 0.025), q7Inf(values, 0.975)];
}

function workloadCells(spec: CompareSpec, runs: RunRow[]): WorkloadCell[] {
  const out: WorkloadCell[] = [];
  const conds = [...new Map(runs.map((r) => [`${r.bandwidthBytesPerSec}|${r.downtimeLimitMs}`, r])).values()];
  for (const w of spec.workloads ?? []) {
    for (const c of conds) {
      const here = (m: string, t: string) => runs.filter((r) => r.trace === t && r.method === m && r.bandwidthBytesPerSec === c.bandwidthBytesPerSec && r.downtimeLimitMs === c.downtimeLimitMs);
      const cells: WorkloadCell[] = [];
      for (const m of spec.methods) {
        const per = w.traces.map((t) => here(m, t));
        const all = per.flat();
        const st = (metric: Metric, tag: string): Stat => {
          const clusters = per.map((rs) => rs.map((r) => metricOf(r, metric)));
          const pooled = clusters.flat();
          if (pooled.length === 0) return { median: null, q1: null, q3: null, mean: null, ci: null };
          const sorted = Float64Array.from(pooled).sort();
          const fin = (x: number) => (Number.isFinite(x) ? x : null);
          const med = fin(q7Inf(sorted, 0.5));
          const ci = clusterBootstrapCI(clusters, subSeed(spec.seed, `${w.name}|${c.bandwidthBytesPerSec}|${c.downtimeLimitMs}|${m}|${tag}`));
          return { median: med, q1: fin(q7Inf(sorted, 0.25)), q3: fin(q7Inf(sorted, 0.75)), mean: pooled.every(Number.isFinite) ? pooled.reduce((a, b) => a + b, 0) / pooled.length : null, ci: med === null ? null : [ci[0], ci[1]] };
        };
        cells.push({
          workload: w.name, recordings: w.traces, bandwidthBytesPerSec: c.bandwidthBytesPerSec, downtimeLimitMs: c.downtimeLimitMs, method: m,
          runs: all.length, completionRate: all.length ? all.filter((r) => r.result.completed).length / all.length : 0,
          downtimeMs: st('downtimeMs', 'd'), totalTimeMs: st('totalTimeMs', 't'), transferredBytes: st('transferredBytes', 'b'),
          perRecordingDowntimeMs: per.map((rs) => { const v = medianInf(rs.map((r) => metricOf(r, 'downtimeMs'))); return Number.isFinite(v) ? v : null; }),
          downtimePHolm: null,
        });
      }
      const base = cells.find((x) => x.method === spec.baseline);
      const others = cells.filter((x) => x !== base);
      if (base) {
        const inf = (v: number | null) => (v === null ? Infinity : v);
        const ps = others.map((o) => signedRankP(o.perRecordingDowntimeMs.map(inf), base.perRecordingDowntimeMs.map(inf)));
        const adj = holm(ps);
        others.forEach((o, i) => { o.downtimePHolm = nn(adj[i]!); });
      }
      out.push(...cells);
    }
  }
  return out;
}

/** What the intervals cover, in words (every output that shows an interval says it). */
export const INTERVALS = (n: number) => `95 % CIs cover where in the recording the migration starts (${n} stratified start offsets, the same for every method); they do not cover other recordings or hosts`;

const OBJ_WORDS: Record<Objective, string> = { downtime: 'least median downtime', time: 'least median total time', bytes: 'fewest median bytes', 'guest-cost': 'least median guest cost' };
const SHIPS: Record<string, string> = { qemu: 'QEMU/libvirt', xen: 'Xen' };

function fmtP(p: number): string {
  return p >= 0.001 ? p.toPrecision(2) : p.toExponential(1);
}

function fmtMetric(v: number, m: Metric): string {
  if (m === 'totalTimeMs') return `${(v / 1000).toFixed(2)} s`;
  if (m === 'transferredBytes') return `${(v / 1e6).toFixed(1)} MB`;
  return `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms`;
}

/** The sentence of an answer. */
function recommendationText(best: Cell, tied: Tied[], objective: Objective, om: Metric, power: string | null): string {
  const who = (t: Tied) => `${t.method} [${t.ships ? SHIPS[t.ships] : 'research'}]${t.flags.length ? ` (${t.flags.join(', ')})` : ''}`;
  const head = `${best.trace} at ${fmtBw(best.bandwidthBytesPerSec)}, downtime-limit ${best.downtimeLimitMs} ms, ${OBJ_WORDS[objective]}:`;
  const first = `${who(tied[0]!)} — median downtime ${fmtMetric(best.downtimeMs.median!, 'downtimeMs')}, total ${fmtMetric(best.totalTimeMs.median!, 'totalTimeMs')}, ${fmtMetric(best.transferredBytes.median!, 'transferredBytes')}${best.guestStallMs.median ? `, guest cost ${fmtMetric(best.guestStallMs.median, 'guestStallMs')}` : ''}, every run completed`;
  const rest = tied.slice(1);
  const exact = rest.filter((t) => t.median === tied[0]!.median);
  const tail = rest.length
    ? `; tied${exact.length === rest.length ? ' exactly' : ''} (no significant difference, paired Wilcoxon with Holm): ${rest.map((t) => `${who(t)} ${fmtMetric(t.median, om)}${t.median === tied[0]!.median ? ', equal' : t.pHolm !== null ? `, p ${fmtP(t.pHolm)}` : ''}`).join('; ')}`
    : '';
  return `${head} ${first}${tail}${power ? `. Note: ${power}` : ''}`;
}

/** "32 MiB/s"-style bandwidth. */
export function fmtBw(b: number): string {
  if (b % 2 ** 30 === 0) return `${b / 2 ** 30} GiB/s`;
  if (b % 2 ** 20 === 0) return `${b / 2 ** 20} MiB/s`;
  return `${+(b / 1e6).toFixed(2)} MB/s`;
}
