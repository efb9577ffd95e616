/**
 * `dirtylab record`: record a real trace (docs/dpt-format.md) — of a command and
 * every process it forks (`-- COMMAND…`), or of one or more mappings of a
 * running process started with the shim (`--pid PID --mapping SIZE|ADDR`,
 * e.g. a QEMU guest's RAM block). The work is in src/trace/record/; this file
 * parses the options, checks them and prints the outcome. Also the rows that
 * `inspect` adds for recorded traces (hot mappings, the recorder's cost).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { outputKind } from '../trace/node.js';
import { RECORDER_META_KEYS, recordTrace, recorderPaths, recorderUnavailable, type RecordResult, type RecordTarget } from '../trace/record/native.js';
import { RecorderFailure, type CostSummary, type RecorderCost } from '../trace/record/session.js';
import { chooseMapping, parseMaps, type ChosenMapping, type MappingSpec } from '../trace/record/procmaps.js';
import { mappingHeat, type TraceSummary } from '../trace/views.js';
import type { AddressMap } from '../trace/record/address-map.js';
import { parseDurationMs, parseSize, UnitError } from '../sim/units.js';
import { UsageError, packageVersion } from './main.js';

/** Epochs shorter than this are refused: the scan itself takes ~0.1–15 ms. */
const MIN_EPOCH_MS = 1;

function timeArg(flag: string, { allowZero }: { allowZero: boolean }): (v: string) => number {
  return (v) => {
    let ms: number;
    try {
      ms = parseDurationMs(v);
    } catch (e) {
      if (e instanceof UnitError) throw new InvalidArgumentError(`${flag}: ${e.message}`);
      throw e;
    }
    if (!Number.isFinite(ms) || (allowZero ? ms < 0 || (ms > 0 && ms < MIN_EPOCH_MS) : ms < MIN_EPOCH_MS)) {
      throw new InvalidArgumentError(`${flag} must be at least ${MIN_EPOCH_MS}ms${allowZero ? ' (or 0 for no limit)' : ''}, not "${v}"`);
    }
    return Math.round(ms * 1e6);
  };
}

/** Parse a --mapping argument: SIZE (262148k, 256MiB) or ADDR (0x…, page-aligned). */
export function parseMappingSpec(text: string): MappingSpec {
  const t = text.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) {
    const address = parseInt(t, 16);
    if (!Number.isSafeInteger(address) || address % 4096 !== 0) throw new UsageError(`--mapping ${text}: a start address must be page-aligned (a multiple of 4096)`);
    return { text, address };
  }
  let size: number;
  try {
    size = parseSize(t);
  } catch {
    throw new UsageError(`--mapping ${text}: give the mapping's size (e.g. 262148k, 256MiB) or its start address (0x7f…)`);
  }
  if (!(size >= 4096)) throw new UsageError(`--mapping ${text}: a size of at least one page (4096 bytes)`);
  return { text, size };
}

/** Collect one `--meta KEY=VALUE` into the map (values are strings; a key once). */
export function metaArg(text: string, previous: Record<string, string> = {}): Record<string, string> {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) throw new InvalidArgumentError(`--meta takes KEY=VALUE (a key of letters, digits, _ . -), not "${text}"`);
  if (RECORDER_META_KEYS.includes(key)) throw new InvalidArgumentError(`--meta ${key}: the recorder sets "${key}" itself`);
  if (key in previous) throw new InvalidArgumentError(`--meta ${key} given twice`);
  return { ...previous, [key]: text.slice(eq + 1) };
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const EXAMPLES = `
Examples:
  dirtylab record -o app.dpt -- ./app --threads 4         record ./app and its children, 30 s at most
  dirtylab record --epoch 50ms --duration 0 -o run.dpt.gz -- make -j2
  dirtylab record --meta workload="make -j2 of foo 1.2" --meta licence=MIT -o build.dpt -- make -j2
  LD_PRELOAD=$(dirtylab record --print-shim) qemu-system-x86_64 -m 262148k …  &
  dirtylab record --pid $! --mapping 262148k --duration 10s -o guest.dpt  (the guest's RAM block)

Needs Linux ≥ 6.7 and root (or CAP_SYS_PTRACE). Pages are numbered densely;
meta.addressMap says which mapping of which process each index is, and
\`dirtylab inspect\` shows the hottest mappings and what recording cost.`;

/** Add the `record` command to the program. */
export function registerRecord(program: Command, out: { log: (s: string) => void }): void {
  program
    .command('record')
    .description('record which pages a command (and every process it forks) or a mapping of a running process writes in each epoch (Linux ≥ 6.7: userfaultfd WP_ASYNC + PAGEMAP_SCAN)')
    .argument('[command...]', 'the command to run and record, after --')
    .option('-o, --out <file>', 'output trace: .dpt, .dpt.gz or .dpt.jsonl (written atomically)')
    .option('--epoch <time>', 'epoch length (default 100ms)', timeArg('--epoch', { allowZero: false }))
    .option('--duration <time>', 'stop after this long, then stop the command (default 30s; 0 = until the command exits or Ctrl-C)', timeArg('--duration', { allowZero: true }))
    .option('--pid <pid>', 'record a running process started with LD_PRELOAD=<shim> (see --print-shim) instead of a command', (v: string) => {
      if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InvalidArgumentError(`--pid must be a process id, not "${v}"`);
      return Number(v);
    })
    .option('--mapping <size|addr...>', 'with --pid: the mapping(s) to record, by size (QEMU\'s -m, e.g. 262148k) or start address (0x…)')
    .option('--print-shim', 'print the path of the LD_PRELOAD shim (for --pid) and exit')
    .option('--meta <key=value>', 'add provenance to the header\'s meta, e.g. --meta workload="pgbench -c 4" --meta licence=MIT (repeatable; values are strings)', metaArg)
    .option('--json', 'print a summary as JSON')
    .addHelpText('after', EXAMPLES)
    .action(async (command: string[], o: { out?: string; epoch?: number; duration?: number; pid?: number; mapping?: string[]; meta?: Record<string, string>; printShim?: boolean; json?: boolean }) => {
      if (o.printShim) {
        const missing = recorderUnavailable();
        if (missing) throw new UsageError(missing);
        out.log(recorderPaths().shim);
        return;
      }
      if (o.pid !== undefined && command.length > 0) throw new UsageError('give either --pid PID --mapping … or a command after --, not both');
      if (o.pid === undefined && o.mapping) throw new UsageError('--mapping goes with --pid (a running process); a command is recorded whole');
      if (o.pid === undefined && command.length === 0) {
        throw new UsageError('record needs a command to run after --, e.g. "dirtylab record -o app.dpt -- ./app", or --pid PID --mapping SIZE');
      }
      if (o.pid !== undefined && !o.mapping?.length) throw new UsageError('--pid needs --mapping SIZE|ADDR: which mapping to record (e.g. the guest RAM size 262148k)');
      if (!o.out) throw new UsageError('record needs -o FILE (.dpt, .dpt.gz or .dpt.jsonl)');
      if (!outputKind(o.out)) throw new UsageError(`cannot tell the output format of "${o.out}": name it .dpt, .dpt.gz or .dpt.jsonl`);
      const missing = recorderUnavailable();
      if (missing) throw new UsageError(missing);
      let target: RecordTarget;
      if (o.pid !== undefined) {
        let text: string;
        try {
          text = readFileSync(`/proc/${o.pid}/maps`, 'utf8');
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new UsageError(code === 'ENOENT' ? `no process ${o.pid}` : `cannot read /proc/${o.pid}/maps (${code})`);
        }
        const entries = parseMaps(text);
        const chosen: ChosenMapping[] = [];
        for (const spec of o.mapping!.map(parseMappingSpec)) {
          let c: ChosenMapping;
          try {
            c = chooseMapping(entries, spec, o.pid);
          } catch (e) {
            if (e instanceof RangeError) throw new UsageError(e.message);
            throw e;
          }
          if (chosen.some((x) => x.start < c.start + c.pages * 4096 && c.start < x.start + x.pages * 4096)) throw new UsageError(`--mapping ${spec.text} overlaps another --mapping`);
          chosen.push(c);
        }
        target = { pid: o.pid, mappings: chosen };
      } else target = { command };
      let r: RecordResult;
      try {
        r = await recordTrace({ output: o.out, target, epochNs: o.epoch ?? 100e6, durationNs: o.duration ?? 30e9, packageVersion: packageVersion(), extraMeta: o.meta });
      } catch (e) {
        if (e instanceof RecorderFailure) throw new UsageError(e.message);
        throw e;
      }
      if (o.json) {
        const { meta, zeroAtStart, ...h } = r.header;
        out.log(JSON.stringify({ ...r, header: { ...h, zeroAtStartPages: zeroAtStart?.length ?? null }, untracked: meta.untracked, recorderCost: (meta.recorderCost as { summary: unknown }).summary }, null, 2));
        return;
      }
      out.log(renderRecording(r));
    });
}

/** One line on what recording cost per epoch. */
export function costLine(c: CostSummary): string {
  const ms = (x: number) => fmt(x, x < 10 ? 2 : 1);
  const cpu = c.recorderCpuMs !== null ? `; recorder CPU ${fmt(c.recorderCpuMs / 1000, 2)} s in all` : '';
  return `${ms(c.workMs.median)} ms median, ${ms(c.workMs.p95)} ms p95, ${ms(c.workMs.max)} ms max per epoch (${fmt(c.shareOfEpoch * 100, 2)} % of a ${fmt(c.epochMs, 1)} ms epoch; PAGEMAP_SCAN ${ms(c.scanMs.median)} ms median) over ${fmt(c.trackedPages.median)} tracked pages${cpu}`;
}

/** What `record` prints when it is done. */
export function renderRecording(r: RecordResult): string {
  const m = r.header.meta as {
    processes: unknown[];
    addressMap: AddressMap;
    untracked: { ranges: { name: string; pages: number; error: string }[]; pages: number; processes: { pid: number; comm: string; pages: number }[] };
    preRegistration: { attributedPages: number; unknownSharedPages: number };
    zeroScan?: { readPages: number; ms: number };
    recorderCost: RecorderCost;
  };
  const procs = m.processes.length;
  const mappings = mappingHeat(m.addressMap, new Uint32Array(0)).length;
  const lines = [
    `${r.output}: ${fmt(r.epochs)} epochs of ${fmt(r.header.epochLen / 1e6, 1)} ms; ${fmt(r.header.nPages)} pages tracked (${fmt((r.header.nPages * r.header.pageSize) / 2 ** 20, 1)} MiB) in ${fmt(mappings)} mapping${mappings === 1 ? '' : 's'} of ${procs} process${procs === 1 ? '' : 'es'}; ${fmt(r.distinctPages)} written at least once`,
  ];
  const u = m.untracked;
  if (u.ranges.length > 0) {
    const byWhy = new Map<string, number>();
    for (const x of u.ranges) {
      const k = `${x.name || '[anon]'}: ${x.error}`;
      byWhy.set(k, (byWhy.get(k) ?? 0) + x.pages);
    }
    lines.push(`not tracked: ${u.ranges.length} range${u.ranges.length === 1 ? '' : 's'}, ${fmt(u.pages)} pages (${[...byWhy].map(([k, v]) => `${k}, ${fmt(v)} pages`).join('; ')})`);
  }
  if (u.processes.length > 0) {
    lines.push(`not tracked: ${u.processes.length} process${u.processes.length === 1 ? '' : 'es'} without the shim (${u.processes.map((p) => `${p.comm} ${p.pid}`).join(', ')}), ${fmt(u.processes.reduce((s, p) => s + p.pages, 0))} writable pages`);
  }
  if (m.preRegistration.unknownSharedPages > 0) {
    lines.push(`${fmt(m.preRegistration.unknownSharedPages)} pages of shared mappings were present before they could be registered; whether they were written then is unknown (not counted)`);
  }
  if (r.header.zeroAtStart && m.zeroScan) lines.push(`zero at start: ${fmt(r.header.zeroAtStart.length)} pages (the scan read ${fmt(m.zeroScan.readPages)} pages in ${fmt(m.zeroScan.ms, 1)} ms)`);
  lines.push(`recorder cost: ${costLine(m.recorderCost.summary)}`);
  const how = r.reason === 'duration' ? 'reached --duration' : r.reason === 'exited' ? 'the command exited' : r.reason === 'signal' ? 'interrupted' : r.reason;
  const status = r.exitSignal !== null ? `killed by signal ${r.exitSignal}` : r.exitCode !== null ? `exit status ${r.exitCode}` : null;
  lines.push(`stopped: ${how}${status ? `; command ${status}` : ''}${r.terminated ? ' (the recorder stopped it)' : ''}`);
  return lines.join('\n');
}

/** Rows `inspect` adds for a recorded trace: the hottest mappings and the recorder's cost. */
export function recordingRows(s: TraceSummary): [string, string][] {
  const rows: [string, string][] = [];
  if (s.mappings && s.mappings.length > 0) {
    const top = s.mappings.slice(0, 8);
    const who = (x: (typeof top)[number]) => `${x.name ? `${x.name} ` : ''}${x.kind}${x.kind === 'anon' ? ` at ${x.start}` : ''}${x.pids.length ? ` (pid ${x.pids.slice(0, 3).join(', ')}${x.pids.length > 3 ? ', …' : ''})` : ''}`;
    rows.push(['top mappings', `by page-writes (pages written × epochs), ${s.mappings.length} mapping${s.mappings.length === 1 ? '' : 's'} in all`]);
    for (const x of top) {
      rows.push(['', `${fmt(x.share * 100, 1).padStart(5)} %  ${who(x)}: ${fmt(x.distinctWritten)} of ${fmt(x.pages)} pages written, ${fmt(x.pageWrites)} page-writes`]);
    }
  }
  if (s.recorderCost) rows.push(['recorder cost', costLine(s.recorderCost)]);
  return rows;
}
