/**
 * `dirtylab grid`.
 */
import { Command } from 'commander';
import { type TraceFormat } from '../trace/model.js';
import type { AnyTrace } from '../trace/source.js';
import { ParamError } from '../sim/method.js';
import { resolveMethod, startGuestNs } from '../sim/simulate.js';
import { simulateAll, type PoolJob } from '../parallel/index.js';
import type { DowntimeStep } from '../sim/engine.js';
import { parseDurationMs, parsePositiveDurationMs, parseDowntimeSteps } from '../sim/units.js';
import '../sim/profiles.js';
import { writeFilesAtomic } from '../report/report.js';
import { gridChart, type GridCell } from '../report/charts/grid.js';
import { toPng, toSvg } from '../report/render.js';
import { fmtBw } from '../stats/summary.js';
import { join as joinPath } from 'node:path';
import { UsageError, openForReplay, closeTraces, bandwidthArg, bandwidthListArg, MAX_TIME_HELP, intArg, workersOption, progress, formatOption, unitArg, collectParam, listArg, profileLine, LINK_HELP, STEPS_HELP, CAL_HELP, type Out } from './common.js';
import { namesArg } from './common.js';
import { ipsOption, replayTime } from './import.js';

/** grid's parsed options. */
interface GridCliOptions {
  bandwidth: number[]; downtimeLimit: number[]; methods: string[]; startEpoch?: number; startTime?: number; maxTime?: number; calibration?: string; linkBandwidth?: number;
  downtimeSteps?: DowntimeStep[]; param: Record<string, string>; out: string; json?: boolean; workers: number; quiet?: boolean; format?: TraceFormat; instructionsPerSecond?: number;
}

/** Register `dirtylab grid`. */
export function registerGrid(program: Command, out: Out): void {
  program
    .command('grid')
    .description('a QEMU-predictor-style table: predicted total time, downtime and verdict for each bandwidth × downtime-limit cell')
    .argument('<trace>', 'a trace in any supported format')
    .requiredOption('--bandwidth <list>', 'bandwidths, e.g. 16MiB/s,32MiB/s,64MiB/s', bandwidthListArg('--bandwidth'))
    .requiredOption('--downtime-limit <list>', 'downtime limits, e.g. 100ms,300ms,1s', listArg(parsePositiveDurationMs, '--downtime-limit'))
    .option('--methods <ids>', 'comma-separated method IDs (default qemu-precopy)', namesArg('--methods'), ['qemu-precopy'])
    .option('--start-epoch <n>', 'start at this epoch (default 0)', intArg('--start-epoch'))
    .option('--start-time <time>', 'or at this time on the trace axis', unitArg(parseDurationMs, '--start-time'))
    .option('--max-time <time>', MAX_TIME_HELP(' per cell'), unitArg(parsePositiveDurationMs, '--max-time'))
    .option('--calibration <name>', CAL_HELP())
    .option('--link-bandwidth <rate>', LINK_HELP, bandwidthArg('--link-bandwidth'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .option('-p, --param <key=value>', 'a method parameter (repeatable)', collectParam, {})
    .option('--out <dir>', 'where grid.json and charts/grid.svg|png go', './dirtylab-grid')
    .option('--json', 'print the cells as JSON')
    .addOption(workersOption())
    .option('--quiet', 'no progress bar')
    .addOption(formatOption()).addOption(ipsOption())
    .action(async (trace: string, o: GridCliOptions) => {
      const opened = await openForReplay(trace, o.format);
      try {
        await gridOf(trace, opened, o, out);
      } finally {
        closeTraces([{ trace: opened }]);
      }
    });
}

/** `dirtylab grid` once the trace is read (or opened for streaming). */
async function gridOf(trace: string, opened: AnyTrace, o: GridCliOptions, out: Out): Promise<void> {
  const { trace: t, note: timeBase } = replayTime<AnyTrace>(opened, trace, o.instructionsPerSecond);
  const jobs: PoolJob[] = [];
  let results;
  const bar = progress(o.quiet);
  try {
    // Checked here, once, so a bad flag is the same usage error whatever --workers.
    for (const m of o.methods) resolveMethod(m, o.param);
    const startNs = startGuestNs(t, { startEpoch: o.startEpoch, startTimeMs: o.startTime });
    for (const m of o.methods) {
      for (const bw of o.bandwidth) {
        for (const dl of o.downtimeLimit) {
          jobs.push({
            key: jobs.length, trace: 0, label: `method ${m}, ${fmtBw(bw)}, downtime-limit ${dl} ms (cell ${jobs.length} of the grid)`,
            options: { method: m, params: o.param, bandwidth: bw, downtimeLimitMs: dl, downtimeSteps: o.downtimeSteps, linkBandwidth: o.linkBandwidth, startGuestNs: startNs, maxTimeMs: o.maxTime, calibration: o.calibration },
          });
        }
      }
    }
    results = await simulateAll([t], jobs, { workers: o.workers, onProgress: (d, n) => bar.update(d, n) });
  } catch (e) {
    if (e instanceof ParamError) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.stop();
  }
  const cells: GridCell[] = results.map((r, i) => {
    const bw = jobs[i]!.options.bandwidth!;
    const dl = jobs[i]!.options.downtimeLimitMs!;
    return { method: r.method, bandwidth: fmtBw(bw), downtimeLimitMs: dl, downtimeMs: r.completed ? r.downtimeMs : null, totalTimeS: r.completed ? r.totalTimeMs / 1000 : null, verdict: r.completed ? (r.converged ? 'converges' : `forced (${r.stopReason})`) : `does not (${r.stopReason})` };
  });
  const svg = await toSvg(gridChart(cells));
  writeFilesAtomic(o.out, { 'grid.json': JSON.stringify(cells, null, 2) + '\n', 'charts/grid.svg': svg, 'charts/grid.png': toPng(svg) });
  if (o.json) { out.log(JSON.stringify(cells, null, 2)); return; }
  if (timeBase) out.log(timeBase);
  out.log(profileLine([{ name: trace, trace: t }], o.calibration, o.linkBandwidth));
  for (const m of [...new Set(cells.map((c) => c.method))]) {
    out.log(`${m}: total time / downtime per bandwidth (rows) × downtime-limit (columns); "no" = does not converge`);
    const mine = cells.filter((c) => c.method === m);
    const head = ['bandwidth', ...o.downtimeLimit.map((d) => `${d} ms`)];
    const rows = o.bandwidth.map((bw) => [fmtBw(bw), ...o.downtimeLimit.map((d) => {
      const c = mine.find((x) => x.bandwidth === fmtBw(bw) && x.downtimeLimitMs === d)!;
      return c.downtimeMs === null ? 'no' : `${c.totalTimeS!.toFixed(1)} s / ${c.downtimeMs.toFixed(0)} ms`;
    })]);
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    out.log(head.map((h, i) => h.padStart(w[i]!)).join('  '));
    for (const r of rows) out.log(r.map((v, i) => v.padStart(w[i]!)).join('  '));
    out.log('');
  }
  out.log(`chart: ${joinPath(o.out, 'charts/grid.png')}`);
}
