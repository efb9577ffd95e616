/**
 * `dirtylab convert`.
 */
import { Command } from 'commander';
import { type TraceFormat } from '../trace/model.js';
import { fileInput, outputKind, sameFile, writeTraceFile } from '../trace/node.js';
import { openTrace } from '../trace/open.js';

import { calibrationNames } from '../sim/calibration.js';
import { getCalibration } from '../sim/calibration.js';
import '../sim/profiles.js';

import { UsageError, formatOption, type Out } from './common.js';

/** Register `dirtylab convert`. */
export function registerConvert(program: Command, out: Out): void {
  program
    .command('convert')
    .description('convert a trace between .dpt, .dpt.gz and .dpt.jsonl (and import recorder JSON lines); exact round trip')
    .argument('<in>', 'input trace (any supported format)')
    .argument('<out>', 'output file: .dpt, .dpt.gz, .dpt.jsonl or .dpt.jsonl.gz')
    .option('--host-profile <name>', `record in the header that the trace was recorded on this profiled host (meta.hostProfile: ${calibrationNames().filter((n) => n !== 'ideal').join(', ')}); simulate, compare and grid then use that profile by default`)
    .addOption(formatOption())
    .action(async (input: string, output: string, o: { format?: TraceFormat; hostProfile?: string }) => {
      if (!outputKind(output)) throw new UsageError(`cannot tell the output format of "${output}": name it .dpt, .dpt.gz or .dpt.jsonl`);
      if (o.hostProfile !== undefined && (!getCalibration(o.hostProfile) || o.hostProfile === 'ideal')) throw new UsageError(`--host-profile: unknown host profile "${o.hostProfile}"; profiles: ${calibrationNames().filter((n) => n !== 'ideal').join(', ')}`);
      if (sameFile(input, output)) throw new UsageError(`the output ${output} is the input file: give another output name (convert never overwrites its input)`);
      const t = await openTrace(fileInput(input), { format: o.format });
      const header = o.hostProfile ? { ...t.header, meta: { ...t.header.meta, hostProfile: o.hostProfile } } : t.header;
      const r = await writeTraceFile(output, header, t.epochs);
      out.log(`${output}: ${r.epochs} epochs (${t.format} → ${outputKind(output)!.format}${outputKind(output)!.gzip ? ', gzipped' : ''})`);
    });
}
