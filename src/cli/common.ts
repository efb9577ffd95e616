/**
 * Helpers shared by the command files: errors, argument parsers, output helpers.
 */
import { readFileSync, statSync } from 'node:fs';
import { InvalidArgumentError, Option } from 'commander';
import { type TraceFormat } from '../trace/model.js';
import { fileInput, writeFilesAtomic } from '../trace/node.js';
import { TRACE_FORMATS } from '../trace/open.js';
import { readTrace } from '../trace/open.js';
import { defaultCalibrationName, defaultLinkBandwidth } from '../sim/simulate.js';
import { isFileBacked, type AnyTrace } from '../trace/source.js';
import { isPlainDptFile, openDptFile } from '../trace/dpt-file.js';
import { Kernel } from '../kernel/index.js';
import { calibrationNames } from '../sim/calibration.js';
import { UnitError, formatBandwidth, parseBandwidth } from '../sim/units.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import '../sim/profiles.js';
import cliProgress from 'cli-progress';
import { type CompareTrace } from '../stats/compare.js';
import { availableParallelism } from 'node:os';

/** A usage error found after parsing (exit 1). */
export class UsageError extends Error {}


/** The package version, read from package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}


export function intArg(name: string, min = 0): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, not "${v}"`);
    return n;
  };
}


export function numArg(name: string, { min = -Infinity, exclusiveMin = false } = {}): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < min || (exclusiveMin && n === min)) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusiveMin ? '>' : '≥'} ${min}, not "${v}"`);
    }
    return n;
  };
}


export const formatOption = () =>
  new Option('--format <format>', 'read the trace as this format instead of detecting it').choices(TRACE_FORMATS as string[]);


export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}


export function unitArg<T>(parse: (s: string) => T, flag: string): (v: string) => T {
  return (v) => {
    try {
      return parse(v);
    } catch (e) {
      if (e instanceof UnitError || e instanceof RangeError) throw new InvalidArgumentError(`${flag}: ${e.message}`);
      throw e;
    }
  };
}


export function collectParam(v: string, prev: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`--param takes key=value, not "${v}"`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}


/** SHA-256 of a file's bytes, hex. */
export async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}


/** Write files into DIR atomically (all or nothing; see writeFilesAtomic). */
export function writeOut(dir: string, files: Record<string, string>): void {
  writeFilesAtomic(dir, files);
}


/**
 * A bandwidth flag's parser. A bare number is bytes/s, as in QEMU, so a bare
 * `32` meant as 32 MiB/s is refused (under 1 KiB/s no migration finishes in a
 * lifetime) and anything under 1 MB/s is run with a warning on stderr.
 */
export function bandwidthArg(flag: string): (v: string) => number {
  return (v) => {
    // The 1 KiB/s floor is checked here, with a hint for a bare number meant as MiB/s.
    const b = unitArg((t: string) => parseBandwidth(t, { noFloor: true }), flag)(v);
    const bare = /^\s*[0-9.e+-]+\s*$/i.test(v);
    const hint = bare ? `: did you mean ${v.trim()}MiB/s?` : '';
    if (b < 1024) throw new InvalidArgumentError(`${flag} ${v.trim()} is ${+b.toPrecision(6)} B/s, under 1 KiB/s (a bare number is bytes/s, as in QEMU)${hint}`);
    if (b < 1e6) process.stderr.write(`dirtylab: warning: ${flag} ${v.trim()} is ${formatBandwidth(b)} (${+b.toPrecision(6)} B/s; a bare number is bytes/s, as in QEMU)${hint || ': under 1 MB/s'}\n`);
    return b;
  };
}


/** A comma-separated list of bandwidths, each checked by bandwidthArg. */
export function bandwidthListArg(flag: string): (v: string) => number[] {
  return (v) => v.split(',').filter((x) => x.trim() !== '').map((x) => bandwidthArg(flag)(x.trim()));
}


/** --max-time's help: the cap is on the simulated migration, not on how long dirtylab runs. */
export const MAX_TIME_HELP = (scope = '') => `simulated-time cap${scope}: the migration's own wall-clock time in the simulation (from migrate until the guest runs on the destination), not how long dirtylab runs; past it the migration did not complete (default 600s)`;


export function listArg<T>(parse: (s: string) => T, flag: string): (v: string) => T[] {
  return (v) => {
    const items = v.split(',').filter((x) => x.trim() !== '');
    if (items.length === 0) throw new InvalidArgumentError(`${flag} needs at least one value, not "${v}"`);
    return items.map((x) => unitArg(parse, flag)(x.trim()));
  };
}

/** A comma-separated list of names; an empty list is a usage error. */
export function namesArg(flag: string): (v: string) => string[] {
  return (v) => {
    const items = v.split(',').map((x) => x.trim()).filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError(`${flag} needs at least one name, not "${v}"`);
    return items;
  };
}


/** A progress bar on stderr when it is a TTY, shown once the work has taken a second. */
export function progress(quiet: boolean | undefined): { update(done: number, total: number): void; stop(): void } {
  if (quiet || !process.stderr.isTTY) return { update() {}, stop() {} };
  const t0 = Date.now();
  let bar: cliProgress.SingleBar | null = null;
  return {
    update(done, total) {
      if (!bar && Date.now() - t0 > 1000) {
        bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'runs {bar} {value}/{total} | ETA {eta}s', hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, done);
      }
      bar?.update(done);
    },
    stop() { bar?.stop(); },
  };
}


/** `--workers N`: worker threads (default: the core count; 1 runs in this process). */
export function workersOption(): Option {
  return new Option('--workers <n>', 'worker threads for the runs (1: in this process); the output does not change')
    .argParser(intArg('--workers', 1))
    .default(availableParallelism(), `the core count, ${availableParallelism()}`);
}


/** Versions that produced a report (vega and vega-lite loaded only here: they are slow to load). */
export async function versions(): Promise<Record<string, string>> {
  const [vegaLib, vlLib] = await Promise.all([import('vega'), import('vega-lite')]);
  return { dirtylab: packageVersion(), node: process.version, vega: vegaLib.version, 'vega-lite': vlLib.version };
}


/** Uncompressed .dpt files of at least this many bytes are streamed from disk by the commands that compare (not read whole). */
export const STREAM_FROM_BYTES = 64 * 2 ** 20;

/**
 * A trace to replay many times: an uncompressed .dpt of STREAM_FROM_BYTES or
 * more is scanned once (decoding in the kernel) and streamed from disk, its
 * pages read as runs reach them (a pool's workers open the file themselves
 * with the scan's index); anything else is read into memory.
 * DIRTYLAB_TEST_STREAM_FROM_BYTES sets the size (tests).
 */
export async function openForReplay(path: string, format?: TraceFormat): Promise<AnyTrace> {
  const env = process.env.DIRTYLAB_TEST_STREAM_FROM_BYTES;
  const from = env !== undefined && env !== '' ? Number(env) : STREAM_FROM_BYTES;
  if ((format === undefined || format === 'dpt') && isPlainDptFile(path) && statSync(path).size >= from) {
    return openDptFile(path, undefined, await Kernel.load());
  }
  return readTrace(fileInput(path), { format });
}

/** Close the files of the traces openForReplay streamed. */
export function closeTraces(traces: { trace: AnyTrace }[]): void {
  for (const t of traces) if (isFileBacked(t.trace)) t.trace.close();
}

/** Read the traces to compare (openForReplay each), named after their files (a repeated name gets a prime). */
export async function loadTraces(paths: string[], format?: TraceFormat): Promise<CompareTrace[]> {
  const out: CompareTrace[] = [];
  const names = new Set<string>();
  try {
    for (const p of paths) {
      const t = await openForReplay(p, format);
      let name = p.split('/').pop()!.replace(/\.(dpt|jsonl|gz)$/g, '').replace(/\.(dpt|jsonl)$/g, '').replace(/\.trace$/, '');
      while (names.has(name)) name += "'";
      names.add(name);
      out.push({ name, trace: t, sha256: null, path: p } as CompareTrace & { path: string });
      out[out.length - 1]!.sha256 = await fileSha256(p);
    }
  } catch (e) {
    closeTraces(out); // the files streamed so far
    throw e;
  }
  return out;
}


export function shardArg(v: string): { index: number; count: number } {
  const m = /^(\d+|auto)\/(\d+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--shard takes i/n (0-based) or auto/n, not "${v}"`);
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const env = process.env.JOB_COMPLETION_INDEX ?? process.env.SLURM_ARRAY_TASK_ID;
    if (env === undefined) throw new InvalidArgumentError('--shard auto/n needs JOB_COMPLETION_INDEX (Kubernetes) or SLURM_ARRAY_TASK_ID (Slurm)');
    index = Number(env);
  } else index = Number(m[1]);
  if (!(count >= 1) || !Number.isInteger(index) || index < 0 || index >= count) throw new InvalidArgumentError(`--shard ${v}: need 0 ≤ i < n`);
  return { index, count };
}


/** The command line as run, without the options that do not change results (so runs.jsonl is the same whatever --workers). */
export function commandLine(argv: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (['--shard', '--out', '--workers'].includes(argv[i]!)) { i++; continue; }
    if (['--quiet', '--json'].includes(argv[i]!) || /^--(shard|out|workers)=/.test(argv[i]!)) continue;
    out.push(/[\s"']/.test(argv[i]!) ? JSON.stringify(argv[i]) : argv[i]!);
  }
  return ['dirtylab', ...out].join(' ');
}


/**
 * The first line of every human output: which host profile each trace runs
 * under and how fast its final copy goes (QEMU lifts max-bandwidth there).
 */
export function profileLine(traces: { name: string; trace: AnyTrace }[], calibration: string | undefined | null, linkBandwidth: number | undefined | null): string {
  const by = new Map<string, string[]>();
  for (const t of traces) {
    const name = defaultCalibrationName(t.trace, calibration ?? undefined);
    const k = `${name} (final copy at ${formatBandwidth(defaultLinkBandwidth(name, linkBandwidth ?? undefined))}${linkBandwidth ? ', --link-bandwidth' : ''})`;
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push(t.name);
  }
  const parts = [...by.entries()].map(([k, names]) => (by.size > 1 ? `${k} for ${names.join(', ')}` : k));
  return `Host profile: ${parts.join('; ')}`;
}


export const LINK_HELP = 'final-copy speed while the source is stopped (QEMU lifts max-bandwidth there; default: the host profile\'s measured speed, else 10Gbit/s)';

export const STEPS_HELP = 'downtime-limit changes during the migration, LIMIT@TIME joined by /, e.g. 600ms@4s/1200ms@8s (Nova\'s steps, KubeVirt\'s ramp)';

export const CAL_HELP = () => `host profile: ${calibrationNames().join(', ')} (default: the one the trace's header names, else ideal)`;


/** validate --check: a target was not met (exit 4). */
export class TargetsNotMet extends Error {}

/** Where a command prints its answer (stdout, or a test's collector). */
export interface Out {
  log: (s: string) => void;
}
