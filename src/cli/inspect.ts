/**
 * `dirtylab inspect`.
 */
import { Command } from 'commander';
import { Kernel } from '../kernel/index.js';
import { type Epoch, type TraceFormat, type TraceHeader } from '../trace/model.js';
import { DptFile, isPlainDptFile } from '../trace/dpt-file.js';
import { fileInput } from '../trace/node.js';
import { openTrace } from '../trace/open.js';
import { summarizeTrace, type TraceSummary } from '../trace/views.js';
import '../sim/profiles.js';
import { UsageError, numArg, formatOption, fmt, type Out } from './common.js';
import { withSyntheticRows } from './import.js';
import { recordingRows } from './record.js';

/** The human-readable `inspect` report. */
export function renderSummary(file: string, format: string, s: TraceSummary): string {
  const mib = (s.nPages * s.pageSize) / 2 ** 20;
  const rows: [string, string][] = [
    ['trace', `${file} (${format})`],
    ['page size', `${fmt(s.pageSize)} B`],
    ['pages', `${fmt(s.nPages)} (${fmt(mib, 1)} MiB of guest memory)`],
    ['epochs', `${fmt(s.epochs)}${s.nominalEpochMs !== null ? `, nominally ${fmt(s.nominalEpochMs, 1)} ms each` : ` (time unit: ${s.timeUnit})`}`],
  ];
  if (s.durationMs !== null) {
    rows.push(['duration', `${fmt(s.durationMs / 1000, 3)} s${s.timeZeroMs !== null ? `; t = 0 (migration start) at ${fmt(s.timeZeroMs / 1000, 3)} s` : ''}`]);
  }
  const ppe = s.pagesPerEpoch;
  rows.push(['written/epoch', `min ${fmt(ppe.min)} · median ${fmt(ppe.median, ppe.median % 1 ? 1 : 0)} · max ${fmt(ppe.max)} pages`]);
  rows.push(['distinct', `${fmt(s.distinctPages)} pages written at least once (${fmt((100 * s.distinctPages) / s.nPages, 1)} %)`]);
  if (s.wt.length > 0) {
    rows.push(['W(t)', s.wt.map((w) => `${fmt(w.windowMs / 1000, w.windowMs < 1000 ? 1 : 0)} s: ${w.pages === null ? '–' : fmt(w.pages)}`).join(' · ') + ' pages']);
  }
  rows.push(['hot set', `${fmt(s.hotSetPages)} pages written in ≥ ${fmt(s.hotThreshold * 100)} % of epochs`]);
  if (s.zeroAtStartPages !== null) rows.push(['zero at start', `${fmt(s.zeroAtStartPages)} pages hold zeros when migration starts`]);
  rows.push(...recordingRows(s));
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}


/** Register `dirtylab inspect`. */
export function registerInspect(program: Command, out: Out): void {
  program
    .command('inspect')
    .description('sizes, duration, pages written per epoch, distinct pages, the W(t) curve and the hot set of a trace')
    .argument('<trace>', 'a .dpt, .dpt.gz, .dpt.jsonl or recorder trace.jsonl(.gz)')
    .option('--json', 'print the summary as JSON')
    .option('--hot-threshold <share>', 'a page is hot when written in at least this share of epochs', numArg('--hot-threshold', { min: 0, exclusiveMin: true }), 0.5)
    .addOption(formatOption())
    .action(async (trace: string, o: { json?: boolean; hotThreshold: number; format?: TraceFormat }) => {
      if (o.hotThreshold > 1) throw new UsageError(`--hot-threshold must be in (0, 1], not ${o.hotThreshold}`);
      // An uncompressed .dpt is read by the fast synchronous scanner; other formats by the streaming readers.
      let t: { header: TraceHeader; format: TraceFormat; gzipped: boolean; epochs: AsyncIterable<Epoch> | Iterable<Epoch> };
      let file: DptFile | null = null;
      const kernel = await Kernel.load();
      if ((o.format === undefined || o.format === 'dpt') && isPlainDptFile(trace)) {
        const f = (file = await DptFile.open(trace));
        // The summary keeps no epoch after counting it: the scanner's reused buffers (in the same kernel) are handed over as they are.
        t = { header: f.header, format: 'dpt', gzipped: false, epochs: f.scanEpochs(kernel) };
      } else {
        t = await openTrace(fileInput(trace), { format: o.format });
      }
      let s;
      try {
        s = await summarizeTrace(t.header, t.epochs, kernel, { hotThreshold: o.hotThreshold });
      } finally {
        file?.close();
      }
      if (o.json) out.log(JSON.stringify({ file: trace, format: t.format, gzipped: t.gzipped, ...s, meta: t.header.meta }, null, 2));
      else out.log(withSyntheticRows(renderSummary(trace, t.format + (t.gzipped ? ', gzipped' : ''), s), t.header.meta));
    });
}
