/**
 * `dirtylab generate`.
 */
import { Command } from 'commander';
import { outputKind, writeTraceFile } from '../trace/node.js';
import { GENERATOR_KINDS, generatedHeader, generateEpochs, type GeneratorKind } from '../trace/generate.js';
import '../sim/profiles.js';
import { UsageError, packageVersion, intArg, numArg, formatOption, type Out } from './common.js';
import { FIT_HELP, generateFit } from './import.js';

/** Register `dirtylab generate`. */
export function registerGenerate(program: Command, out: Out): void {
  program
    .command('generate')
    .description('write a seeded, reproducible synthetic trace')
    .argument('<kind>', `one of ${GENERATOR_KINDS.join(', ')}, fit`)
    .requiredOption('-o, --out <file>', 'output file (.dpt, .dpt.gz, .dpt.jsonl)')
    .option('--pages <n>', 'guest pages', intArg('--pages', 1), 65536)
    .option('--epochs <n>', 'epochs', intArg('--epochs', 1), 100)
    .option('--epoch-ms <ms>', 'epoch length in ms', numArg('--epoch-ms', { min: 0, exclusiveMin: true }), 100)
    .option('--rate <writes/s>', 'page writes per second', numArg('--rate', { min: 0 }), 10000)
    .option('--seed <n>', 'random seed', intArg('--seed'), 1)
    .option('--page-size <bytes>', 'page size', intArg('--page-size', 1), 4096)
    .option('--hot-fraction <share>', 'hotcold/phases: share of pages that are hot', numArg('--hot-fraction', { min: 0, exclusiveMin: true }), 0.1)
    .option('--hot-probability <share>', 'hotcold/phases: share of writes to the hot set', numArg('--hot-probability', { min: 0 }), 0.9)
    .option('--zipf-s <s>', 'zipf: exponent', numArg('--zipf-s', { min: 0, exclusiveMin: true }), 1.1)
    .option('--phase-epochs <n>', 'phases: epochs per phase', intArg('--phase-epochs', 1), 50)
    .option('--like <trace>', 'fit: match the W(t) curve of this trace').option('--curve <file>', 'fit: match this W(t) curve (JSON or CSV, below)').addOption(formatOption()).addHelpText('after', FIT_HELP)
    .action(async (kind: string, o: Record<string, number> & { out: string }, cmd: Command) => {
      if (kind === 'fit') return generateFit(o, cmd, out.log, (m) => new UsageError(m), packageVersion());
      if (o.like !== undefined || o.curve !== undefined) throw new UsageError('--like and --curve belong to generate fit');
      if (!(GENERATOR_KINDS as readonly string[]).includes(kind)) throw new UsageError(`unknown generator "${kind}"; use one of ${GENERATOR_KINDS.join(', ')}`);
      if (!outputKind(o.out)) throw new UsageError(`cannot tell the output format of "${o.out}": name it .dpt, .dpt.gz or .dpt.jsonl`);
      const opts = {
        kind: kind as GeneratorKind, pages: o.pages!, epochs: o.epochs!, epochMs: o.epochMs!, rate: o.rate!, seed: o.seed!,
        pageSize: o.pageSize!, hotFraction: o.hotFraction!, hotProbability: o.hotProbability!, zipfS: o.zipfS!, phaseEpochs: o.phaseEpochs!,
      };
      let header;
      try {
        header = generatedHeader(opts, packageVersion());
      } catch (e) {
        if (e instanceof RangeError) throw new UsageError(e.message);
        throw e;
      }
      const r = await writeTraceFile(o.out, header, generateEpochs(opts));
      out.log(`${o.out}: ${r.epochs} epochs of ${kind} writes over ${o.pages} pages (seed ${o.seed})`);
    });
}
