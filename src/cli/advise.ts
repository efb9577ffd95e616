/**
 * `dirtylab advise`: will my VM migrate? (src/advise/advise.ts)
 */
import { Command } from 'commander';
import { type TraceFormat } from '../trace/model.js';
import { fileInput } from '../trace/node.js';
import { readTrace } from '../trace/open.js';
import { ParamError } from '../sim/method.js';
import { parseBandwidth, parseDurationMs, formatBandwidth } from '../sim/units.js';
import { advise, DEFAULT_OFFSETS, type AdviseResult, type Stat } from '../advise/advise.js';
import '../sim/profiles.js';
import { UsageError, intArg, formatOption, unitArg, profileLine, LINK_HELP, CAL_HELP, type Out } from './common.js';
import { ipsOption, replayTime } from './import.js';

const s = (x: number | null | undefined, d = 1) => (x === null || x === undefined ? '–' : x.toFixed(d));
const med = (st: Stat, div = 1, d = 1, unit = '') => (st.median === null ? '–' : `${s(st.median / div, d)}${unit} (95 % CI ${s(st.ci![0] / div, d)}–${s(st.ci![1] / div, d)}${unit})`);
const pct = (x: number) => `${Math.round(x * 100)} %`;

/** The human-readable answer, in the issue's order. */
export function renderAdvice(file: string, r: AdviseResult): string {
  const g = r.given;
  const o: string[] = [];
  o.push(`Will ${file} migrate at max-bandwidth ${formatBandwidth(g.bandwidthBytesPerSec)}, downtime-limit ${g.downtimeLimitMs} ms? (${r.offsets.length} start offsets; constraints: downtime ≤ ${g.maxDowntimeMs} ms, done within ${g.deadlineMs / 1000} s, guest slowdown ≤ ${pct(g.maxGuestSlowdown)})`);
  if (r.synthetic) o.push('', r.synthetic.note);
  const p = r.precopy;
  o.push('', '1. Plain QEMU pre-copy at these settings');
  o.push(p.converges
    ? `   CONVERGES in ${pct(p.convergedFraction)} of start offsets: total time ${med(p.totalTimeMs, 1000, 2, ' s')}, downtime ${med(p.downtimeMs, 1, 1, ' ms')}${p.meets ? '' : `; but it does NOT meet the constraints (${pct(p.meetsFraction)} of offsets do)`}`
    : `   DOES NOT CONVERGE: it completes within ${g.deadlineMs / 1000} s in ${pct(p.convergedFraction)} of start offsets${p.totalTimeMs.median !== null ? ` (those: ${med(p.totalTimeMs, 1000, 2, ' s')}, downtime ${med(p.downtimeMs, 1, 1, ' ms')})` : ''}`);
  o.push('', '2. What would make plain pre-copy converge (in ≥ 95 % of start offsets)');
  o.push(`   smallest downtime-limit at ${formatBandwidth(g.bandwidthBytesPerSec)}: ${r.minDowntimeLimitMs === null ? `none up to ${r.search.downtimeRangeMs[1]} ms` : `${r.minDowntimeLimitMs} ms`}`);
  o.push(`   smallest max-bandwidth at ${g.downtimeLimitMs} ms: ${r.minBandwidthBytesPerSec === null ? `none up to ${formatBandwidth(r.search.bandwidthRange[1])}` : `${r.minBandwidthBytesPerSec / 2 ** 20} MiB/s`}${r.minBandwidthBytesPerSec !== null && r.minBandwidthBytesPerSec > g.linkBandwidthBytesPerSec ? ' (above the link)' : ''}`);
  o.push(`   search: ${r.search.note}; ${r.search.probes} probes`);
  o.push('', '3. Alternatives');
  if (p.meets) o.push('   not needed: plain pre-copy meets the constraints');
  else {
    r.options.forEach((x, i) => {
      const e = x.evaluation;
      o.push(`   ${i + 1}. ${x.meets ? 'MEETS   ' : 'fails   '} ${x.label}`);
      o.push(`      converged ${pct(e.convergedFraction)}, meets ${pct(e.meetsFraction)}; total ${med(e.totalTimeMs, 1000, 2, ' s')}; downtime ${med(e.downtimeMs, 1, 1, ' ms')}`);
      o.push(`      guest cost: slowdown ${e.guestSlowdown.median === null ? '–' : pct(e.guestSlowdown.median)}, ${s((e.guestLostMs.median ?? 0) / 1000, 2)} s of guest time lost, max throttle ${s(e.maxThrottlePct.median, 0)} %${(e.postcopyRequests.median ?? 0) > 0 ? `, ${s(e.postcopyRequests.median, 0)} post-copy page requests` : ''}${x.why ? `; ${x.why}` : ''}${x.note ? ` (${x.note})` : ''}`);
    });
    for (const k of r.skipped) o.push(`   not tried: ${k}`);
  }
  o.push('', '4. Settings to apply');
  if (!r.settings) o.push('   none: no option meets the constraints; relax them (--max-downtime, --deadline, --max-guest-slowdown) or raise the bandwidth');
  else {
    const st = r.settings;
    o.push(`   recommended: ${r.recommended}`, '', '   QMP (source; postcopy-ram also on the destination):');
    for (const c of st.qmp) {
      const { atMs, when, ...cmd } = c;
      o.push(`   ${JSON.stringify(cmd)}${atMs !== undefined ? `   // at ${atMs / 1000} s after migrate` : ''}${when ? `   // ${when}` : ''}`);
    }
    o.push('', '   virsh:', ...st.virsh.map((l) => `   ${l}`));
    o.push('', '   KubeVirt MigrationPolicy:', ...st.kubevirt.split('\n').map((l) => `   ${l}`));
    o.push('', '   Nova (nova.conf):', ...st.nova.map((l) => `   ${l}`));
    if (st.caveats.length) o.push('', '   caveats:', ...st.caveats.map((l) => `   - ${l}`));
    if (r.orchestrators.length) {
      o.push('', '   the Nova and KubeVirt settings above, replayed as each orchestrator applies them (methods nova, kubevirt):');
      for (const x of r.orchestrators) o.push(`   ${x.orchestrator.padEnd(8)} ${x.meets ? 'meets the constraints' : 'does NOT meet the constraints'}: converged ${pct(x.convergedFraction)}, meets ${pct(x.meetsFraction)}; total ${med(x.totalTimeMs, 1000, 2, ' s')}; downtime ${med(x.downtimeMs, 1, 1, ' ms')}`);
    }
  }
  o.push('', '5. How sure');
  const v = r.confidence.validation;
  o.push(`   calibration ${r.confidence.calibration}${v ? `: validated on ${v.runs} real runs, median |total-time error| ${v.medianAbsTimeErrorPct} %, median |downtime error| ${v.medianAbsDowntimeErrorMs} ms (${v.source})` : ': not validated on real runs'}`);
  o.push(`   ${r.confidence.coverage}`);
  for (const n of r.confidence.notes) o.push(`   ${n}`);
  if (r.synthetic) {
    o.push(`   fit: the shape misses the measured windows by at most ${r.synthetic.shapeWorstRelError === null ? '–' : `${(r.synthetic.shapeWorstRelError * 100).toFixed(2)} %`}; the trace misses the shape's curve by at most ${r.synthetic.fitWorstRelError === null ? '–' : `${(Math.abs(r.synthetic.fitWorstRelError) * 100).toFixed(2)} %`} (|W(t) error|); shape assumed: ${r.synthetic.shapeAssumption ?? '–'}`);
    for (const sh of r.synthetic.shapes) o.push(`   under the ${sh.shape} shape: pre-copy converges in ${pct(sh.convergedFraction)}, total ${med(sh.totalTimeMs, 1000, 2, ' s')}, downtime ${med(sh.downtimeMs, 1, 1, ' ms')}, smallest downtime-limit ${sh.minDowntimeLimitMs ?? '–'} ms`);
  }
  o.push(`   (${(r.elapsedMs / 1000).toFixed(1)} s)`);
  return o.join('\n');
}

/** Register `dirtylab advise`. */
export function registerAdvise(program: Command, out: Out): void {
  program
    .command('advise')
    .description('before you migrate: does pre-copy converge at your settings, what would make it, which alternative can and at what guest cost, and the settings to paste')
    .argument('<trace>', 'a trace in any supported format (a recorded one, or what `import` fitted from calc-dirty-rate / query-migrate)')
    .requiredOption('--bandwidth <rate>', 'the max-bandwidth you use today, e.g. 32MiB/s', unitArg(parseBandwidth, '--bandwidth'))
    .requiredOption('--downtime-limit <time>', 'the downtime-limit you use today, e.g. 300ms', unitArg(parseDurationMs, '--downtime-limit'))
    .option('--link-bandwidth <rate>', LINK_HELP, unitArg(parseBandwidth, '--link-bandwidth'))
    .option('--calibration <name>', CAL_HELP())
    .option('--max-downtime <time>', 'the most downtime the workload bears (default: the downtime-limit)', unitArg(parseDurationMs, '--max-downtime'))
    .option('--deadline <time>', 'a migration must complete within this (default 10min)', unitArg(parseDurationMs, '--deadline'))
    .option('--max-guest-slowdown <pct>', 'the most guest time the method may take, % of the migration (default 30%)', (v: string) => {
      const x = Number(v.replace(/%$/, ''));
      if (!Number.isFinite(x) || x < 0 || x > 100) throw new UsageError(`--max-guest-slowdown must be 0–100 %, not "${v}"`);
      return x / 100;
    })
    .option('--offsets <n>', `start offsets over the trace (default ${DEFAULT_OFFSETS})`, intArg('--offsets', 1))
    .option('--seed <n>', 'seed of the offsets\' phase (default 1)', intArg('--seed'))
    .option('--json', 'print the answer as JSON (schemas/advise.schema.json)')
    .addOption(formatOption()).addOption(ipsOption())
    .action(async (file: string, o: {
      bandwidth: number; downtimeLimit: number; linkBandwidth?: number; calibration?: string; maxDowntime?: number; deadline?: number; maxGuestSlowdown?: number;
      offsets?: number; seed?: number; json?: boolean; format?: TraceFormat; instructionsPerSecond?: number;
    }) => {
      const { trace: t, note } = replayTime(await readTrace(fileInput(file), { format: o.format }), file, o.instructionsPerSecond);
      let r: AdviseResult;
      try {
        r = await advise(t, {
          bandwidth: o.bandwidth, downtimeLimitMs: o.downtimeLimit, linkBandwidth: o.linkBandwidth, calibration: o.calibration, maxDowntimeMs: o.maxDowntime,
          deadlineMs: o.deadline, maxGuestSlowdown: o.maxGuestSlowdown, offsets: o.offsets, seed: o.seed,
          onProgress: o.json || !process.stderr.isTTY ? undefined : (w) => process.stderr.write(`\r\x1b[K${w}…`),
        });
      } catch (e) {
        if (e instanceof ParamError) throw new UsageError(e.message);
        throw e;
      } finally {
        if (!o.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
      }
      out.log(o.json ? JSON.stringify(r, null, 2) : `${note ? `${note}\n` : ''}${profileLine([{ name: file, trace: t }], o.calibration, o.linkBandwidth)}\n${renderAdvice(file, r)}`);
    });
}
