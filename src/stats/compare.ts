/**
 * compare(): the run grid of docs/statistics.md — traces × conditions (bandwidth ×
 * downtime-limit) × replicates × methods, paired across methods — and its
 * runs, ready for summarize(). Replicates are N stratified start offsets over
 * each recording (equal spacing, one seeded phase), shared by every method, so
 * run r of method A and run r of method B start at the same guest instant.
 * With the write-time band on, every cell is also run with write-time=start
 * and write-time=end (the pessimistic and optimistic placements of writes in
 * an epoch); those runs are reported as the band, not pooled.
 *
 * The grid has one canonical order (trace, bandwidth, downtime-limit,
 * write-time, replicate, method); `shard` i/n runs the runs whose index ≡ i
 * (mod n), so shards merge back into exactly the unsharded result. With
 * `workers` > 1 the runs spread over a worker pool (src/parallel/) and come
 * back in that order, so the output is the same byte for byte.
 */
import type { Kernel } from '../kernel/index.js';
import { simulateAll, type Pool, type PoolJob } from '../parallel/index.js';
import { allParams } from '../sim/method.js';
import { ParamError } from '../sim/method.js';
import { methodIds } from '../sim/methods/index.js';
import type { SimResult } from '../sim/result.js';
import type { DowntimeStep } from '../sim/engine.js';
import { fmtBw, type Objective } from './summary.js';
import { DEFAULT_BANDWIDTH, DEFAULT_DOWNTIME_LIMIT_MS, resolveMethod } from '../sim/simulate.js';
import { epochSource, type AnyTrace } from '../trace/source.js';
import { mulberry32 } from '../trace/random.js';

/** A trace in a comparison. */
export interface CompareTrace {
  name: string;
  /** In memory, or streamed from a .dpt file (the pool's workers then open the file themselves). */
  trace: AnyTrace;
  sha256: string | null;
}

/** A trace's span, first epoch's start to last epoch's end, ms (0 without epochs). */
function traceDurationMs(t: AnyTrace): number {
  const src = epochSource(t);
  return src.length === 0 ? 0 : (src.t1(src.length - 1) - src.t0(0)) / 1e6;
}

/** Repeat recordings of one workload (trace names). */
export interface Workload {
  name: string;
  traces: string[];
}

/**
 * The naming rule for repeats: `NAME-rN` (N ≥ 2) is a repeat recording of
 * `NAME` (the bundled light-bw32-dt300, -r2, -r3). Groups of two or more
 * traces present in the comparison, in trace order.
 */
export function workloadsByName(names: string[]): Workload[] {
  const base = (n: string) => n.replace(/-r\d+$/, '');
  const groups = new Map<string, string[]>();
  for (const n of names) {
    const b = base(n);
    if (!groups.has(b)) groups.set(b, []);
    groups.get(b)!.push(n);
  }
  return [...groups.entries()].filter(([, t]) => t.length >= 2).map(([name, traces]) => ({ name, traces }));
}

function checkWorkloads(w: Workload[], names: string[]): Workload[] {
  const seen = new Set<string>();
  for (const g of w) {
    if (g.traces.length < 2) throw new ParamError(`--workload ${g.name}: a workload groups two or more recordings`);
    for (const t of g.traces) {
      if (!names.includes(t)) throw new ParamError(`--workload ${g.name}: "${t}" is not one of the compared traces (${names.join(', ')})`);
      if (seen.has(t)) throw new ParamError(`--workload: trace "${t}" is in two workloads`);
      seen.add(t);
    }
  }
  return w;
}

/** Everything that defines a comparison grid (stored with every run, checked by merge). */
export interface CompareSpec {
  traces: { name: string; sha256: string | null; nPages: number; epochs: number; durationMs: number }[];
  methods: string[];
  baseline: string;
  replicates: number;
  bandwidths: number[];
  downtimeLimits: number[];
  params: Record<string, string>;
  seed: number;
  maxTimeMs: number | null;
  /** Host profile asked for (null: each trace's own, else ideal). */
  calibration: string | null;
  /** Final-copy link speed asked for, bytes/s (null: the profile's, else 10 Gbit/s). */
  linkBandwidth: number | null;
  /** downtime-limit schedule applied to every run (empty: none). */
  downtimeSteps: DowntimeStep[];
  /** What the answer minimises (default downtime). */
  objective: Objective;
  /** Only methods QEMU/libvirt ship today may be the answer. */
  deployable: boolean;
  /** Repeat recordings of one workload, grouped: then recordings are the unit (summary.workloads). */
  workloads: Workload[];
  writeTimeBand: boolean;
  packageVersion: string;
  command: string;
}

/** Options of compare(). */
export interface CompareOptions {
  traces: CompareTrace[];
  methods?: string[];
  baseline?: string;
  replicates?: number;
  bandwidths?: number[];
  downtimeLimits?: number[];
  params?: Record<string, string>;
  seed?: number;
  maxTimeMs?: number;
  calibration?: string;
  linkBandwidth?: number;
  downtimeSteps?: DowntimeStep[];
  objective?: Objective;
  deployable?: boolean;
  workloads?: Workload[];
  writeTimeBand?: boolean;
  shard?: { index: number; count: number };
  /** The kernel for runs in this thread. */
  kernel?: Kernel;
  /** Worker threads to spread the runs over (absent, 0 or 1: this thread); the output does not change. */
  workers?: number;
  /** Or an existing worker pool (left open); wins over `workers`. */
  pool?: Pool;
  /** Called on this thread after each finished run. */
  onProgress?: (done: number, total: number) => void;
  packageVersion?: string;
  /** The command line, for provenance (without --shard/--out). */
  command?: string;
}

/** One run of the grid with its coordinates. */
export interface RunRow {
  index: number;
  trace: string;
  traceSha256: string | null;
  method: string;
  bandwidthBytesPerSec: number;
  downtimeLimitMs: number;
  writeTime: 'uniform' | 'start' | 'end';
  band: boolean;
  replicate: number;
  startGuestNs: number;
  result: SimResult;
}

/** The grid's runs (this shard's, if sharded) and its definition. */
export interface CompareRuns {
  spec: CompareSpec;
  runs: RunRow[];
  /** Runs in the whole grid. */
  total: number;
}

/** Stratified start offsets: N equally spaced guest instants over the recording, one seeded phase. */
export function startOffsets(trace: AnyTrace, n: number, seed: number): number[] {
  const src = epochSource(trace);
  const first = src.t0(0);
  const last = src.t1(src.length - 1);
  const span = last - first;
  const phase = mulberry32(seed)();
  return Array.from({ length: n }, (_, r) => Math.floor(first + ((r + phase) / n) * span));
}

/** Per method: the --param pairs it takes (an error if no chosen method takes a given one). */
export function paramsByMethod(methods: string[], params: Record<string, string>): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  const taken = new Set<string>();
  for (const id of methods) {
    const { method } = resolveMethod(id);
    const names = new Set(allParams(method).map((p) => p.name));
    const mine: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) if (names.has(k)) { mine[k] = v; taken.add(k); }
    out.set(id, mine);
  }
  for (const k of Object.keys(params)) {
    if (!taken.has(k)) throw new ParamError(`no chosen method takes --param ${k}`);
  }
  return out;
}

/** Build the grid definition from options (defaults filled in, methods checked). */
export function compareSpec(o: CompareOptions): CompareSpec {
  const methods = o.methods?.length ? o.methods : methodIds();
  for (const m of methods) resolveMethod(m); // throws ParamError for unknown IDs
  const baseline = o.baseline ?? (methods.includes('precopy') ? 'precopy' : methods[0]!);
  resolveMethod(baseline);
  if (!methods.includes(baseline)) throw new ParamError(`the baseline ${baseline} is not among --methods`);
  const replicates = o.replicates ?? 10;
  if (!Number.isInteger(replicates) || replicates < 1) throw new ParamError('--replicates must be an integer ≥ 1');
  const params = o.params ?? {};
  if ('write-time' in params) throw new ParamError('compare runs write-time=uniform and reports the start/end band itself; drop --param write-time');
  paramsByMethod(methods, params);
  return {
    traces: o.traces.map((t) => ({
      name: t.name, sha256: t.sha256, nPages: t.trace.header.nPages, epochs: epochSource(t.trace).length,
      durationMs: traceDurationMs(t.trace),
    })),
    methods,
    baseline,
    replicates,
    bandwidths: o.bandwidths?.length ? o.bandwidths : [DEFAULT_BANDWIDTH],
    downtimeLimits: o.downtimeLimits?.length ? o.downtimeLimits : [DEFAULT_DOWNTIME_LIMIT_MS],
    params,
    seed: o.seed ?? 1,
    maxTimeMs: o.maxTimeMs ?? null,
    calibration: o.calibration ?? null,
    linkBandwidth: o.linkBandwidth ?? null,
    downtimeSteps: o.downtimeSteps ?? [],
    objective: o.objective ?? 'downtime',
    deployable: o.deployable ?? false,
    workloads: checkWorkloads(o.workloads ?? [], o.traces.map((t) => t.name)),
    writeTimeBand: o.writeTimeBand ?? true,
    packageVersion: o.packageVersion ?? 'dev',
    command: o.command ?? '',
  };
}

/** The grid's cells in canonical order (without running them). */
export function gridCells(spec: CompareSpec, traces: CompareTrace[]) {
  const cells: Omit<RunRow, 'result'>[] = [];
  const writeTimes = spec.writeTimeBand ? (['uniform', 'start', 'end'] as const) : (['uniform'] as const);
  let index = 0;
  for (const t of traces) {
    const starts = startOffsets(t.trace, spec.replicates, spec.seed);
    for (const bw of spec.bandwidths) {
      for (const dl of spec.downtimeLimits) {
        for (const wt of writeTimes) {
          for (let r = 0; r < spec.replicates; r++) {
            for (const m of spec.methods) {
              cells.push({
                index: index++, trace: t.name, traceSha256: t.sha256, method: m, bandwidthBytesPerSec: bw, downtimeLimitMs: dl,
                writeTime: wt, band: wt !== 'uniform', replicate: r, startGuestNs: starts[r]!,
              });
            }
          }
        }
      }
    }
  }
  return cells;
}

/** How a run is named in errors: its coordinates in the grid. */
export function runLabel(c: Omit<RunRow, 'result'>): string {
  return `trace ${c.trace}, method ${c.method}, ${fmtBw(c.bandwidthBytesPerSec)}, downtime-limit ${c.downtimeLimitMs} ms, write-time ${c.writeTime}, replicate ${c.replicate} (run ${c.index} of the grid)`;
}

/** Run the grid (or one shard of it). */
export async function compare(o: CompareOptions): Promise<CompareRuns> {
  const spec = compareSpec(o);
  const perMethod = paramsByMethod(spec.methods, spec.params);
  const cells = gridCells(spec, o.traces);
  const mine = o.shard ? cells.filter((c) => c.index % o.shard!.count === o.shard!.index) : cells;
  const traceIndex = new Map(o.traces.map((t, i) => [t.name, i]));
  const jobs: PoolJob[] = mine.map((c) => {
    const t = traceIndex.get(c.trace)!;
    return {
      key: c.index,
      trace: t,
      label: runLabel(c),
      options: {
        method: c.method,
        params: { ...perMethod.get(c.method)!, 'write-time': c.writeTime },
        bandwidth: c.bandwidthBytesPerSec,
        downtimeLimitMs: c.downtimeLimitMs,
        startGuestNs: c.startGuestNs,
        maxTimeMs: spec.maxTimeMs ?? undefined,
        calibration: spec.calibration ?? undefined,
        linkBandwidth: spec.linkBandwidth ?? undefined,
        downtimeSteps: spec.downtimeSteps.length ? spec.downtimeSteps : undefined,
        traceSha256: o.traces[t]!.sha256,
        packageVersion: spec.packageVersion,
      },
    };
  });
  const results = await simulateAll(o.traces.map((t) => t.trace), jobs, { workers: o.workers, pool: o.pool, kernel: o.kernel, onProgress: o.onProgress });
  const runs: RunRow[] = mine.map((c, i) => ({ ...c, result: results[i]! }));
  return { spec, runs, total: cells.length };
}
