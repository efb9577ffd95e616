/**
 * `dirtylab simulate`.
 */
import { Command, Option } from 'commander';
import { type TraceFormat } from '../trace/model.js';
import { fileInput } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import { Kernel } from '../kernel/index.js';
import { isPlainDptFile, openDptFile } from '../trace/dpt-file.js';
import type { AnyTrace } from '../trace/source.js';
import { COMMON_PARAMS, ParamError, allParams, paramDefaultText } from '../sim/method.js';
import { METHODS, methodIds } from '../sim/methods/index.js';
import { simulate, DEFAULT_BANDWIDTH, DEFAULT_DOWNTIME_LIMIT_MS } from '../sim/simulate.js';
import type { DowntimeStep } from '../sim/engine.js';
import { calibrationNames } from '../sim/calibration.js';
import { parseDurationMs, parsePositiveDurationMs, parseDowntimeSteps, formatBandwidth } from '../sim/units.js';
import type { SimResult } from '../sim/result.js';
import { parseRecordedThrottle, type RateSegment } from '../trace/warp.js';
import '../sim/profiles.js';
import { UsageError, bandwidthArg, MAX_TIME_HELP, packageVersion, intArg, formatOption, fmt, unitArg, collectParam, fileSha256, profileLine, LINK_HELP, STEPS_HELP, CAL_HELP, type Out } from './common.js';
import { ipsOption, replayTime } from './import.js';

/** The methods and their parameters, for --help. */
export function methodsHelp(): string {
  const lines = ['', 'Methods (--method; a variant as method/variant):'];
  for (const m of METHODS) {
    lines.push(`  ${m.variants ? m.variants.map((v) => `${m.id}/${v}`).join(', ') : m.id}`);
    lines.push(`      ${m.summary}`);
    if (m.approximation) lines.push(`      approximation: ${m.approximation}`);
    for (const p of allParams(m)) {
      if (['write-time', 'device-state', 'switchover-fixed', 'rtt'].includes(p.name)) continue;
      lines.push(`      --param ${p.name}=${p.choices ? p.choices.join('|') : p.kind} (${paramDefaultText(p)}): ${p.description}`);
    }
  }
  lines.push('  every method also takes:');
  for (const p of COMMON_PARAMS) lines.push(`      --param ${p.name}=${p.choices ? p.choices.join('|') : p.kind} (${paramDefaultText(p)}): ${p.description}`);
  lines.push(`Calibrations (--calibration): ${calibrationNames().join(', ')}`);
  return lines.join('\n');
}


const ms = (x: number | null, d = 1) => (x === null ? '–' : fmt(x, d));


/** The human-readable `simulate` report: a summary, then one line per sync. */
export function renderResult(file: string, r: SimResult): string {
  const pv = r.provenance;
  const head: [string, string][] = [
    ['method', r.method],
    ['trace', `${file}; start at guest ${fmt(pv.startGuestNs / 1e9, 3)} s; write-time ${pv.writeTime}; rearm ${pv.rearm}; trace end: ${pv.onTraceEnd}${r.traceLooped ? ' (looped)' : ''}`],
    ['network', `bandwidth ${formatBandwidth(pv.network.bandwidthBytesPerSec)}, link ${formatBandwidth(pv.network.linkBandwidthBytesPerSec)}, downtime-limit ${fmt(pv.network.downtimeLimitMs)} ms; calibration ${pv.calibration}`],
    ['result', r.completed
      ? `completed (${r.converged ? 'converged' : `forced: ${r.stopReason}`}) in ${fmt(r.totalTimeMs / 1000, 3)} s; downtime ${ms(r.downtimeMs)} ms; setup ${ms(r.setupTimeMs)} ms`
      : `NOT completed (${r.stopReason}) after ${fmt(r.totalTimeMs / 1000, 3)} s`],
    ['sent', `${fmt(r.transferredBytes / 1e6, 1)} MB: ${fmt(r.pagesSent)} pages (${fmt(r.zeroPagesSent)} zero), ${fmt(r.pagesResent)} re-sent; ${fmt(r.finalDirtyPages)} in the final copy (${fmt(r.downtimeBytes / 1e6, 2)} MB)`],
    ['syncs', `${r.dirtySyncCount} (dirty-sync-count)${r.maxThrottlePct ? `; max throttle ${r.maxThrottlePct} %` : ''}${r.guestStallMs > 0.05 ? `; guest lost ${ms(r.guestStallMs)} ms` : ''}${r.remoteFaults > 0 ? ` (${fmt(r.remoteFaults)} post-copy page requests)` : ''}`],
  ];
  const w = Math.max(...head.map(([k]) => k.length));
  const out = head.map(([k, v]) => `${k.padEnd(w)}  ${v}`);
  out.push('');
  const cols = ['sync', 'start ms', 'end ms', 'pages sent', 'MB sent', 'new dirty', 'remaining', 'bw MiB/s', 'exp. down ms', 'throttle %'];
  const rows = r.rounds.map((x) => [
    `${x.sync}${x.final ? '*' : ''}`, fmt(x.startMs, 1), fmt(x.endMs, 1), fmt(x.pagesSent), fmt(x.bytes / 1e6, 2), fmt(x.dirtyPages),
    fmt(x.remainingPages), x.bandwidthBytesPerSec === null ? '–' : fmt(x.bandwidthBytesPerSec / 2 ** 20, 1), ms(x.expectedDowntimeMs), fmt(x.throttlePct),
  ]);
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i]!.length)));
  out.push(cols.map((c, i) => c.padStart(widths[i]!)).join('  '));
  for (const row of rows) out.push(row.map((c, i) => c.padStart(widths[i]!)).join('  '));
  if (r.rounds.some((x) => x.final)) out.push('* the final copy, guest stopped');
  return out.join('\n');
}


/** Register `dirtylab simulate`. */
export function registerSimulate(program: Command, out: Out): void {
  program
    .command('simulate')
    .description('replay a trace through one copy method and report the migration it predicts')
    .argument('<trace>', 'a trace in any supported format')
    .requiredOption('-m, --method <id>', `copy method: ${methodIds().join(', ')}`)
    .option('-p, --param <key=value>', 'a method parameter (repeatable)', collectParam, {})
    .option('--bandwidth <rate>', `live-phase rate cap, e.g. 128MiB/s, 1Gbit/s (QEMU max-bandwidth; default ${formatBandwidth(DEFAULT_BANDWIDTH)})`, bandwidthArg('--bandwidth'))
    .option('--link-bandwidth <rate>', LINK_HELP, bandwidthArg('--link-bandwidth'))
    .option('--downtime-limit <time>', `QEMU downtime-limit (default ${DEFAULT_DOWNTIME_LIMIT_MS}ms)`, unitArg(parsePositiveDurationMs, '--downtime-limit'))
    .option('--downtime-steps <steps>', STEPS_HELP, unitArg(parseDowntimeSteps, '--downtime-steps'))
    .option('--start-epoch <n>', 'start the migration at this epoch (0-based index in the file; default 0)', intArg('--start-epoch'))
    .option('--start-time <time>', 'or at this time on the trace axis (t = 0 at the trace\'s timeZeroNs), e.g. 0, 1.5s', unitArg(parseDurationMs, '--start-time'))
    .option('--max-time <time>', MAX_TIME_HELP(), unitArg(parsePositiveDurationMs, '--max-time'))
    .addOption(new Option('--on-trace-end <mode>', 'when the guest reaches the end of the trace').choices(['loop', 'stop', 'idle']).default('loop'))
    .option('--calibration <name>', CAL_HELP())
    .option('--recorded-throttle <ms:pct,…>', 'the trace was recorded under this throttle (100 = guest stalled) from these ms after t = 0; it is mapped back to guest time first', unitArg(parseRecordedThrottle, '--recorded-throttle'))
    .option('--json', 'print the result object')
    .addOption(formatOption()).addOption(ipsOption())
    .addHelpText('after', methodsHelp())
    .action(async (trace: string, o: {
      method: string; param: Record<string, string>; bandwidth?: number; linkBandwidth?: number; downtimeLimit?: number; downtimeSteps?: DowntimeStep[];
      startEpoch?: number; startTime?: number; maxTime?: number; onTraceEnd: 'loop' | 'stop' | 'idle'; calibration?: string; json?: boolean; format?: TraceFormat;
      recordedThrottle?: RateSegment[]; instructionsPerSecond?: number;
    }) => {
      // An uncompressed .dpt is streamed from disk (an index, one epoch at a time); other formats are read whole.
      // The scan decodes in a kernel of its own (garbage once the scan ends).
      const streamed = (o.format === undefined || o.format === 'dpt') && isPlainDptFile(trace) ? await openDptFile(trace, undefined, await Kernel.load()) : null;
      const { trace: t, note: timeBase } = replayTime<AnyTrace>(streamed ?? (await readTrace(fileInput(trace), { format: o.format })), trace, o.instructionsPerSecond);
      let r: SimResult;
      try {
        r = await simulate(t, {
          method: o.method, params: o.param, bandwidth: o.bandwidth, linkBandwidth: o.linkBandwidth, downtimeLimitMs: o.downtimeLimit, downtimeSteps: o.downtimeSteps,
          startEpoch: o.startEpoch, startTimeMs: o.startTime, maxTimeMs: o.maxTime, onTraceEnd: o.onTraceEnd, calibration: o.calibration,
          recordedThrottle: o.recordedThrottle,
          traceSha256: await fileSha256(trace), packageVersion: packageVersion(),
        });
      } catch (e) {
        if (e instanceof ParamError) throw new UsageError(e.message);
        throw e;
      } finally {
        streamed?.close();
      }
      out.log(o.json ? JSON.stringify(timeBase ? { ...r, timeBase: t.header.meta.timeBase } : r, null, 2) : `${timeBase ? `${timeBase}\n` : ''}${profileLine([{ name: trace, trace: t }], o.calibration, o.linkBandwidth)}\n${renderResult(trace, r)}`);
    });
}
