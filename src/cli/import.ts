/**
 * `dirtylab import FORMAT INPUT -o FILE`: other tools' output as a trace.
 * The formats and their options come from the importer registry
 * (src/trace/import/index.ts), so --help lists what the code holds. An
 * option the chosen format does not take, or a bad value, is a usage error
 * (exit 1); a bad input is exit 2 with the file and line or byte; the output
 * is written to a temporary name and renamed, never left half-written.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { Kernel } from '../kernel/index.js';
import { IMPORTERS, getImporter } from '../trace/import/index.js';
import type { ImportOption, ImportOptionKind } from '../trace/import/common.js';
import { dirInput, fileInput, outputKind, sweepStaleTemps, tempPathFor, trackTemp, writeTraceFile } from '../trace/node.js';
import { parseDurationMs, parseSize, UnitError } from '../sim/units.js';

/** camelCase of a kebab-case flag, as commander stores it. */
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Every flag any importer takes, once, with the formats that take it. */
function allFlags(): Map<string, { kind: ImportOptionKind; formats: string[] }> {
  const m = new Map<string, { kind: ImportOptionKind; formats: string[] }>();
  for (const imp of IMPORTERS) {
    for (const opt of imp.options) {
      const e = m.get(opt.flag);
      if (e) e.formats.push(imp.id);
      else m.set(opt.flag, { kind: opt.kind, formats: [imp.id] });
    }
  }
  return m;
}

function placeholder(kind: ImportOptionKind): string {
  if (Array.isArray(kind)) return (kind as readonly string[]).join('|');
  return { int: 'n', number: 'x', duration: 'time', size: 'size', string: 'text', path: 'file' }[kind as string]!;
}

/** --help text: each format, what it reads, and its options. */
export function formatsHelp(): string {
  const lines = ['', 'Formats:'];
  for (const imp of IMPORTERS) {
    lines.push(`  ${imp.id} (${imp.input === 'directory' ? 'INPUT is a directory' : 'INPUT is a file, gzipped or not'})`);
    lines.push(`      ${imp.summary}`);
    for (const o of imp.options) lines.push(`      --${o.flag} <${placeholder(o.kind)}>: ${o.description}`);
  }
  return lines.join('\n');
}

/** Parse one option value by its kind; a bad value is a usage error. */
function parseValue(opt: ImportOption, raw: string, usage: (m: string) => Error): unknown {
  const bad = (what: string) => usage(`--${opt.flag} must be ${what}, not "${raw}"`);
  if (Array.isArray(opt.kind)) {
    if (!(opt.kind as readonly string[]).includes(raw)) throw bad(`one of ${(opt.kind as readonly string[]).join(', ')}`);
    return raw;
  }
  switch (opt.kind) {
    case 'int': {
      const n = Number(raw);
      if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || (n < 1 && opt.flag !== 'seed')) throw bad(opt.flag === 'seed' ? 'an integer ≥ 0' : 'an integer ≥ 1');
      return n;
    }
    case 'number': {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n)) throw bad('a number');
      return n;
    }
    case 'duration':
    case 'size':
      try {
        const v = opt.kind === 'duration' ? parseDurationMs(raw) : parseSize(raw);
        if (!(v > 0)) throw bad(`> 0`);
        return v;
      } catch (e) {
        if (e instanceof UnitError) throw usage(`--${opt.flag}: ${e.message}`);
        throw e;
      }
    default:
      if (raw === '') throw bad('non-empty');
      return raw;
  }
}

/** Write a small text file atomically (a temporary name, then rename). */
function writeTextAtomic(path: string, text: string): void {
  mkdirSync(dirname(path) || '.', { recursive: true });
  sweepStaleTemps(path);
  const tmp = tempPathFor(path);
  const untrack = trackTemp(tmp);
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
    untrack();
  }
}

/**
 * Register `import` on the program. `usage` makes the CLI's usage error
 * (exit 1); `version` is recorded in provenance.
 */
export function registerImport(program: Command, out: { log: (s: string) => void }, usage: (m: string) => Error, version: string): Command {
  const flags = allFlags();
  const cmd = program
    .command('import')
    .description('import another tool\'s output (lackey, dirty bitmaps, KVM dirty ring, QEMU trace events, dirty rates) as a trace')
    .argument('<format>', `one of ${IMPORTERS.map((i) => i.id).join(', ')}`)
    .argument('<input>', 'the file (gzipped or not) or, for bitmap-dir, the directory to read')
    .requiredOption('-o, --out <file>', 'output trace (.dpt, .dpt.gz, .dpt.jsonl); written to a temporary name and renamed, never partial');
  for (const [flag, f] of flags) cmd.option(`--${flag} <${placeholder(f.kind)}>`, `(${f.formats.join(', ')}) see Formats below`);
  cmd.addHelpText('after', formatsHelp());
  cmd.action(async (format: string, inputPath: string, o: Record<string, string>) => {
    const imp = getImporter(format);
    if (!imp) throw usage(`unknown import format "${format}"; formats: ${IMPORTERS.map((i) => i.id).join(', ')}`);
    const output = o.out!;
    if (!outputKind(output)) throw usage(`cannot tell the output format of "${output}": name it .dpt, .dpt.gz or .dpt.jsonl`);
    const options: Record<string, unknown> = {};
    for (const flag of flags.keys()) {
      const raw = o[camel(flag)];
      if (raw === undefined) continue;
      const spec = imp.options.find((x) => x.flag === flag);
      if (!spec) throw usage(`--${flag} is not an option of import ${imp.id}; its options: ${imp.options.map((x) => `--${x.flag}`).join(', ')}`);
      options[flag] = parseValue(spec, raw, usage);
    }
    const input = imp.input === 'directory' ? dirInput(inputPath) : fileInput(inputPath);
    let r;
    try {
      r = await imp.run(input, { options, kernel: await Kernel.load(), version });
    } catch (e) {
      if (e instanceof RangeError) throw usage(e.message);
      throw e;
    }
    r.header.meta = { ...r.header.meta, importedBy: `dirtylab ${version}`, importCommand: ['dirtylab', 'import', format, basename(inputPath), ...Object.entries(options).filter(([k]) => k !== 'curve-out').map(([k, v]) => `--${k} ${v}`)].join(' ') };
    const w = await writeTraceFile(output, r.header, r.epochs);
    const kind = outputKind(output)!;
    out.log(`${output}: ${w.epochs} epochs over ${r.header.nPages} pages of ${r.header.pageSize} B, timed in ${r.header.timeUnit} (${imp.id} → ${kind.format}${kind.gzip ? ', gzipped' : ''})`);
    for (const n of r.notes) out.log(`  ${n}`);
    const curveOut = options['curve-out'] as string | undefined;
    if (curveOut !== undefined && r.curve) {
      writeTextAtomic(curveOut, JSON.stringify({ source: `dirtylab import ${imp.id} ${basename(inputPath)} (shape-extended)`, pageSize: r.header.pageSize, nPages: r.header.nPages, points: r.curve }, null, 1) + '\n');
      out.log(`  curve: ${join(curveOut)} (${r.curve.length} points; generate fit --curve reads it)`);
    }
  });
  return cmd;
}

// The other CLI pieces of issue 11, re-exported so main.ts needs one import line.
export { FIT_HELP, generateFit, withSyntheticRows } from './fit.js';
export { ipsOption, replayTime, replayTimes } from './timebase.js';
