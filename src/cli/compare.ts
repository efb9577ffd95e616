/**
 * `dirtylab compare`.
 */
import { Command, Option } from 'commander';
import { Kernel } from '../kernel/index.js';
import { type TraceFormat } from '../trace/model.js';
import { ParamError } from '../sim/method.js';
import { methodIds } from '../sim/methods/index.js';
import type { DowntimeStep } from '../sim/engine.js';
import { parsePositiveDurationMs, parseDowntimeSteps } from '../sim/units.js';
import { getCalibration } from '../sim/calibration.js';
import '../sim/profiles.js';
import { defaultCalibrationName } from '../sim/simulate.js';
import { compare, workloadsByName, type CompareRuns, type CompareTrace, type Workload } from '../stats/compare.js';
import { renderWorkloads } from '../report/workloads.js';
import { summarize as summarizeRuns, OBJECTIVES, type Objective } from '../stats/summary.js';
import { renderTerminal, reportFiles, runsJsonl, writeFilesAtomic } from '../report/report.js';
import { join as joinPath } from 'node:path';
import { UsageError, bandwidthArg, bandwidthListArg, MAX_TIME_HELP, packageVersion, intArg, workersOption, formatOption, unitArg, collectParam, listArg, progress, versions, loadTraces, closeTraces, shardArg, commandLine, profileLine, LINK_HELP, STEPS_HELP, CAL_HELP, type Out } from './common.js';
import { namesArg } from './common.js';
import { ipsOption, replayTimes } from './import.js';

/** compare's parsed options. */
interface CompareCliOptions {
  methods?: string[]; baseline?: string; replicates?: number; bandwidth?: number[]; downtimeLimit?: number[]; param: Record<string, string>;
  seed?: number; maxTime?: number; calibration?: string; linkBandwidth?: number; downtimeSteps?: DowntimeStep[]; objective: Objective; deployable?: boolean; workload: { name: string; paths: string[] }[]; writeTimeBand: boolean; out: string; shard?: { index: number; count: number };
  json?: boolean; quiet?: boolean; workers: number; format?: TraceFormat; instructionsPerSecond?: number;
}

/** Summarise, print and write everything a comparison produces. */
export async function finishComparison(r: CompareRuns, traces: CompareTrace[], o: { json?: boolean; out: string }, log: (s: string) => void): Promise<void> {
  const sum = summarizeRuns(r.spec, r.runs);
  const kernel = await Kernel.load();
  const names = [...new Set(traces.map((t) => defaultCalibrationName(t.trace, r.spec.calibration ?? undefined)))];
  const host = { profile: profileLine(traces, r.spec.calibration, r.spec.linkBandwidth), constants: Object.fromEntries(names.map((n) => [n, getCalibration(n)?.constants ?? {}])) };
  const files = await reportFiles(r, sum, traces, kernel, await versions(), host);
  writeFilesAtomic(o.out, files);
  if (o.json) log(JSON.stringify(sum, null, 2));
  else {
    log(host.profile);
    log(renderTerminal(sum));
    const wl = renderWorkloads(sum);
    if (wl) log(wl);
    log('');
    log(`report: ${joinPath(o.out, 'report.html')}`);
  }
}


/** Register `dirtylab compare`. */
export function registerCompare(program: Command, out: Out): void {
  program
    .command('compare')
    .description('run every chosen method on the traces over a grid of conditions and start offsets; statistics, charts and an offline HTML report')
    .argument('<trace...>', 'traces in any supported format')
    .option('--methods <ids>', `comma-separated method IDs (default: all: ${methodIds().join(',')})`, namesArg('--methods'))
    .option('--baseline <id>', 'the method others are compared with (default precopy)')
    .option('--replicates <n>', 'stratified start offsets per trace (default 10)', intArg('--replicates', 1))
    .option('--bandwidth <list>', 'bandwidths, e.g. 32MiB/s,1Gbit/s (default 128MiB/s)', bandwidthListArg('--bandwidth'))
    .option('--downtime-limit <list>', 'downtime limits, e.g. 100ms,300ms (default 300ms)', listArg(parsePositiveDurationMs, '--downtime-limit'))
    .option('-p, --param <key=value>', 'a method parameter for every method that takes it (repeatable)', collectParam, {})
    .option('--seed <n>', 'seed of the start offsets and the bootstrap (default 1)', intArg('--seed'))
    .option('--max-time <time>', MAX_TIME_HELP(' per run'), unitArg(parsePositiveDurationMs, '--max-time'))
    .option('--calibration <name>', CAL_HELP())
    .option('--link-bandwidth <rate>', LINK_HELP, bandwidthArg('--link-bandwidth'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .addOption(new Option('--objective <what>', 'what the answer minimises (median over start offsets)').choices([...OBJECTIVES]).default('downtime'))
    .option('--deployable', 'only methods QEMU/libvirt ship today may be the answer')
    .option('--workload <name=traces>', 'group repeat recordings of one workload (NAME=a.dpt,b.dpt,…; repeatable): recordings become the unit (cluster bootstrap, tests on per-recording medians). Default: traces named NAME-rN are repeats of NAME', collectWorkload, [])
    .option('--no-write-time-band', 'skip the write-time start/end band (a third of the runs)')
    .option('--out <dir>', 'output directory', './dirtylab-report')
    .option('--shard <i/n>', 'run only slice i of n of the grid (0-based; auto/n reads JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID) and write only runs.jsonl', shardArg)
    .option('--json', 'print the summary as JSON')
    .addOption(workersOption())
    .option('--quiet', 'no progress bar')
    .addOption(formatOption()).addOption(ipsOption())
    .action(async (paths: string[], o: CompareCliOptions) => {
      const loaded = await loadTraces(paths, o.format);
      try {
        await compareLoaded(paths, loaded, o, out);
      } finally {
        closeTraces(loaded);
      }
    });
}

/** `dirtylab compare` once the traces are read (or opened for streaming). */
async function compareLoaded(paths: string[], loaded: CompareTrace[], o: CompareCliOptions, out: Out): Promise<void> {
  const { traces, notes: timeBase } = replayTimes(loaded, o.instructionsPerSecond);
  if (!o.json) timeBase.forEach((n) => out.log(n));
  const bar = progress(o.quiet);
  let r: CompareRuns;
  try {
    r = await compare({
      traces, methods: o.methods, baseline: o.baseline, replicates: o.replicates, bandwidths: o.bandwidth, downtimeLimits: o.downtimeLimit,
      params: o.param, seed: o.seed, maxTimeMs: o.maxTime, calibration: o.calibration, linkBandwidth: o.linkBandwidth, downtimeSteps: o.downtimeSteps, objective: o.objective, deployable: o.deployable ?? false,
      workloads: o.workload.length ? workloadsOf(o.workload, paths, traces.map((t) => t.name)) : workloadsByName(traces.map((t) => t.name)),
      writeTimeBand: o.writeTimeBand, shard: o.shard, workers: o.workers,
      packageVersion: packageVersion(), command: commandLine(process.argv.slice(2)), onProgress: (d, t) => bar.update(d, t),
    });
  } catch (e) {
    if (e instanceof ParamError) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.stop();
  }
  r.spec.traces.forEach((t, i) => { (t as { path?: string }).path = paths[i]; });
  if (o.shard) {
    writeFilesAtomic(o.out, { 'runs.jsonl': runsJsonl(r) });
    out.log(`shard ${o.shard.index}/${o.shard.count}: ${r.runs.length} of ${r.total} runs → ${joinPath(o.out, 'runs.jsonl')}`);
    return;
  }
  await finishComparison(r, traces, o, out.log);
}

/** Collect `--workload NAME=a.dpt,b.dpt`. */
function collectWorkload(v: string, prev: { name: string; paths: string[] }[]): { name: string; paths: string[] }[] {
  const m = /^([^=]+)=(.+)$/.exec(v);
  if (!m) throw new UsageError(`--workload takes NAME=TRACE,TRACE…, not "${v}"`);
  return [...prev, { name: m[1]!.trim(), paths: m[2]!.split(',').map((x) => x.trim()).filter(Boolean) }];
}

/** Map --workload paths to the comparison's trace names. */
function workloadsOf(given: { name: string; paths: string[] }[], paths: string[], names: string[]): Workload[] {
  return given.map((g) => ({
    name: g.name,
    traces: g.paths.map((p) => {
      const i = paths.indexOf(p);
      if (i < 0) throw new UsageError(`--workload ${g.name}: "${p}" is not one of the traces given to compare`);
      return names[i]!;
    }),
  }));
}
