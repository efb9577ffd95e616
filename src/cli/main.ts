/**
 * The `dirtylab` command line (commander). One command a file in this
 * directory, each exporting a register function; this file builds the
 * program from them and maps errors to exit codes (docs/outputs.md): 0 ok, 1 usage
 * error (unknown command or flag, bad value), 2 bad input file or run
 * directory, 3 internal error, 4 `validate --check` with a target not met.
 * Errors are one line on stderr, never a stack trace (set DIRTYLAB_DEBUG=1 to
 * see one).
 */
import { Command, CommanderError } from 'commander';
import { KernelMemoryError } from '../kernel/index.js';
import { TraceError } from '../trace/model.js';
import '../sim/profiles.js';
import { TargetsNotMet, UsageError, packageVersion, type Out } from './common.js';
import { registerInspect } from './inspect.js';
import { registerConvert } from './convert.js';
import { registerGenerate } from './generate.js';
import { registerSimulate } from './simulate.js';
import { registerImport } from './import.js';
import { registerRecord } from './record.js';

export { UsageError, packageVersion } from './common.js';
export { renderSummary } from './inspect.js';
export { renderResult, methodsHelp } from './simulate.js';

type Registrar = (program: Command, out: Out) => void;

/**
 * The commands whose modules load the statistics, report and chart libraries
 * (arquero, vega, vega-lite, apache-arrow, …: ~0.8 s): loaded only when one
 * of them runs, or for --help and errors, so that inspect, simulate, convert,
 * generate, import and record start in a fraction of that.
 */
const HEAVY: Record<string, () => Promise<Registrar>> = {
  compare: async () => (await import('./compare.js')).registerCompare,
  merge: async () => (await import('./merge.js')).registerMerge,
  grid: async () => (await import('./grid.js')).registerGrid,
  validate: async () => (await import('./validate.js')).registerValidate,
  advise: async () => (await import('./advise.js')).registerAdvise,
};
const LIGHT = new Set(['inspect', 'convert', 'generate', 'import', 'simulate', 'record']);
const loaded = new Map<string, Registrar>();

/** Load the heavy commands' modules: those named, or all (for buildProgram() to register them). */
export async function loadCommands(names: string[] = Object.keys(HEAVY)): Promise<void> {
  for (const n of names) if (Object.hasOwn(HEAVY, n) && !loaded.has(n)) loaded.set(n, await HEAVY[n]!());
}

/** Build the command tree: every light command and the heavy ones loaded (loadCommands() first for all; tests, --help checks). */
export function buildProgram(out: Out = { log: (s) => process.stdout.write(s + '\n') }): Command {
  const program = new Command('dirtylab')
    .description('Replay recorded dirty-page traces through live-migration copy methods.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [registerInspect, registerConvert, registerGenerate]) register(program, out);
  registerImport(program, out, (m) => new UsageError(m), packageVersion());
  registerSimulate(program, out);
  for (const name of ['compare', 'merge', 'grid', 'validate']) loaded.get(name)?.(program, out);
  registerRecord(program, out);
  loaded.get('advise')?.(program, out);
  markRequired(program);
  return program;
}

/** Say "(required)" in --help beside every option a command cannot run without. */
function markRequired(cmd: Command): void {
  for (const o of cmd.options) {
    if (o.mandatory && !o.description.startsWith('(required)')) o.description = `(required) ${o.description}`;
  }
  for (const c of cmd.commands) markRequired(c);
}

/**
 * A reader that closed our stdout (`dirtylab compare … | head`) has all it
 * wanted: end quietly with 0, as cat and grep do, instead of an uncaught EPIPE.
 */
function quietOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** Run the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  // The command is the first word that is not an option (there are no global options with values).
  const cmd = argv.slice(2).find((a) => !a.startsWith('-'));
  const versionOnly = cmd === undefined && argv.slice(2).some((a) => a === '-V' || a === '--version');
  await loadCommands(versionOnly || (cmd !== undefined && LIGHT.has(cmd)) ? [] : cmd !== undefined && Object.hasOwn(HEAVY, cmd) ? [cmd] : undefined);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (process.env.DIRTYLAB_DEBUG) console.error(e);
    if (e instanceof CommanderError) {
      // commander already printed its message (help and version exit 0).
      return e.exitCode === 0 ? 0 : 1;
    }
    if (e instanceof TargetsNotMet) return 4;
    if (e instanceof UsageError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 1;
    }
    if (e instanceof TraceError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 2;
    }
    if (e instanceof KernelMemoryError) {
      process.stderr.write(`dirtylab: ${e.message}\n`);
      return 3;
    }
    const err = e as NodeJS.ErrnoException;
    if (err?.code && err.path) {
      // A file-system error on an output path (e.g. a missing directory).
      process.stderr.write(`dirtylab: ${err.path}: cannot write (${err.code})\n`);
      return 2;
    }
    process.stderr.write(`dirtylab: internal error: ${err?.message ?? String(e)}\n`);
    return 3;
  }
}
