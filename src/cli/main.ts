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
import { registerCompare } from './compare.js';
import { registerMerge } from './merge.js';
import { registerGrid } from './grid.js';
import { registerValidate } from './validate.js';
import { registerImport } from './import.js';
import { registerRecord } from './record.js';
import { registerAdvise } from './advise.js';

export { UsageError, packageVersion } from './common.js';
export { renderSummary } from './inspect.js';
export { renderResult, methodsHelp } from './simulate.js';
export { renderValidation } from './validate.js';

/** Build the command tree (exported for tests and --help checks). */
export function buildProgram(out: Out = { log: (s) => process.stdout.write(s + '\n') }): Command {
  const program = new Command('dirtylab')
    .description('Replay recorded dirty-page traces through live-migration copy methods.')
    .version(packageVersion())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of [registerInspect, registerConvert, registerGenerate]) register(program, out);
  registerImport(program, out, (m) => new UsageError(m), packageVersion());
  for (const register of [registerSimulate, registerCompare, registerMerge, registerGrid, registerValidate, registerRecord, registerAdvise]) register(program, out);
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
