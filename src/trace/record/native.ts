/**
 * Node side of `dirtylab record`: finds the native recorder built by
 * scripts/build-recorder.mjs (build/dirtylab-recorder and the LD_PRELOAD shim
 * build/dirtylab-shim.so), runs it, reads its output stream (descriptor 3)
 * through a RecordingSession, spools the epochs to a temporary file next to
 * the output (the page count is known only at the end, and the .dpt header
 * comes first), then writes the trace atomically with writeTraceFile.
 *
 * Layout of src/trace/record/: address-map.ts (dense page numbering, pure),
 * session.ts (the output stream → epochs and meta, pure), procmaps.ts
 * (/proc/PID/maps and --mapping, pure), native.ts (this file, Node only).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { Epoch, TraceHeader, TraceMeta } from '../model.js';
import { tempPathFor, writeTraceFile } from '../node.js';
import { RecorderFailure, RecordingSession, costSummary, runsToPageList, type EpochRuns, type RecorderCost } from './session.js';
import type { ChosenMapping } from './procmaps.js';

/** The kernel the recorder needs: PAGEMAP_SCAN and UFFD_FEATURE_WP_ASYNC arrived in Linux 6.7. */
export const MIN_KERNEL: readonly [number, number] = [6, 7];

/** Where the native pieces live (in the package, built at install time). */
export function recorderPaths(): { root: string; binary: string; shim: string; status: string; buildScript: string } {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  return {
    root,
    binary: join(root, 'build', 'dirtylab-recorder'),
    shim: join(root, 'build', 'dirtylab-shim.so'),
    status: join(root, 'build', 'recorder-status.json'),
    buildScript: join(root, 'scripts', 'build-recorder.mjs'),
  };
}

/** Whether a kernel release string ("6.18.44-…") is at least major.minor. */
export function kernelAtLeast(rel: string, [major, minor]: readonly [number, number]): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}

/** Why recording cannot work on this machine (one line), or null if it can. */
export function recorderUnavailable(): string | null {
  const need = `Linux ≥ ${MIN_KERNEL.join('.')} (userfaultfd WP_ASYNC and PAGEMAP_SCAN)`;
  if (process.platform !== 'linux') return `record needs ${need}; this is ${process.platform}`;
  if (!kernelAtLeast(release(), MIN_KERNEL)) return `record needs ${need}; this kernel is ${release()}`;
  const p = recorderPaths();
  const missing = [p.binary, p.shim].filter((f) => !existsSync(f));
  if (missing.length > 0) {
    let why = 'it was not built';
    try {
      const s = JSON.parse(readFileSync(p.status, 'utf8')) as { built?: boolean; reason?: string };
      if (s.built) why = 'it was built, then removed';
      else if (s.reason) why = `it was not built: ${s.reason}`;
    } catch { /* no status file: never built */ }
    return `record needs its native recorder, ${missing.join(' and ')} missing (${why}); build it with "node ${p.buildScript}" (needs cc or gcc)`;
  }
  return null;
}

const RECORD_HEAD = 24; // t0 f64, t1 f64, runs u32, pages u32

/** Epochs on disk while recording: written once, read back once. */
export class EpochSpool {
  private readonly fd: number;
  private pos = 0;
  /** Epochs written. */
  count = 0;

  /** Create the spool file (exclusively); throws the file system's error. */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'wx+', 0o600);
  }

  /** Append one epoch. */
  write(e: EpochRuns): void {
    const b = Buffer.allocUnsafe(RECORD_HEAD + e.runs.byteLength);
    b.writeDoubleLE(e.t0, 0);
    b.writeDoubleLE(e.t1, 8);
    b.writeUInt32LE(e.runs.length / 2, 16);
    b.writeUInt32LE(e.pages, 20);
    Buffer.from(e.runs.buffer, e.runs.byteOffset, e.runs.byteLength).copy(b, RECORD_HEAD);
    writeSync(this.fd, b, 0, b.length, this.pos);
    this.pos += b.length;
    this.count++;
  }

  /** The epochs in order, as trace epochs (page lists). */
  *epochs(): Generator<Epoch> {
    let at = 0;
    const head = Buffer.alloc(RECORD_HEAD);
    for (let k = 0; k < this.count; k++) {
      readSync(this.fd, head, 0, RECORD_HEAD, at);
      const nRuns = head.readUInt32LE(16);
      const runs = new Uint32Array(nRuns * 2);
      if (nRuns > 0) readSync(this.fd, Buffer.from(runs.buffer), 0, runs.byteLength, at + RECORD_HEAD);
      at += RECORD_HEAD + runs.byteLength;
      yield { t0: head.readDoubleLE(0), t1: head.readDoubleLE(8), pages: runsToPageList(runs) };
    }
  }

  /** Close and delete the file. */
  remove(): void {
    try { closeSync(this.fd); } catch { /* already closed */ }
    try { unlinkSync(this.path); } catch { /* already gone */ }
  }
}

/** What to record. */
export type RecordTarget =
  | { command: string[] }
  | { pid: number; mappings: ChosenMapping[] };

/** Options of recordTrace. */
export interface RecordOptions {
  /** Output trace: .dpt, .dpt.gz or .dpt.jsonl (written atomically). */
  output: string;
  target: RecordTarget;
  epochNs: number;
  /** Stop after this long; 0 = until the command (or process) exits or SIGINT. */
  durationNs: number;
  /** dirtylab's version, for the provenance. */
  packageVersion: string;
  /** Provenance the user adds (`record --meta KEY=VALUE`): merged into the header's meta; a key the recorder sets itself is refused. */
  extraMeta?: Record<string, string>;
}

/**
 * The meta keys the recorder writes itself (and the ones with a meaning
 * elsewhere: `timeZeroNs`, `hostProfile`), which `--meta` may not set.
 */
export const RECORDER_META_KEYS: readonly string[] = [
  'source', 'recordedWith', 'recorder', 'mode', 'command', 'target', 'kernel', 'recordedAt', 'epochNs', 'durationLimitNs',
  'clock', 'epoch0MonotonicNs', 'epochSemantics', 'end', 'processes', 'addressMap', 'untracked', 'preRegistration',
  'unplacedPages', 'zeroScan', 'recorderCost', 'timeZeroNs', 'hostProfile',
];

/** What a recording produced (the CLI prints it). */
export interface RecordResult {
  output: string;
  header: TraceHeader;
  epochs: number;
  distinctPages: number;
  /** Why it stopped: duration, exited, signal, target exited. */
  reason: string;
  exitCode: number | null;
  exitSignal: number | null;
  /** The command was still running at the end and was stopped. */
  terminated: boolean;
}

/** The error an unwritable output gives: main prints "FILE: cannot write (CODE)". */
function outputError(output: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  return Object.assign(new Error(`${output}: cannot write (${code})`), { code, path: output });
}

/**
 * Record a trace: run the native recorder on a command (and every process it
 * forks) or on mappings of a running process, and write what it saw to
 * `output`. Throws RecorderFailure for what the user can fix (no such
 * command, no shim in the process, missing kernel features).
 */
export async function recordTrace(opts: RecordOptions): Promise<RecordResult> {
  const missing = recorderUnavailable();
  if (missing) throw new RecorderFailure('missing', missing);
  const paths = recorderPaths();
  // The spool next to the output proves the output's directory is writable
  // before anything runs.
  let spool: EpochSpool;
  try {
    spool = new EpochSpool(`${tempPathFor(opts.output)}.spool`);
  } catch (e) {
    throw outputError(opts.output, e);
  }
  const timing = ['--epoch-ns', String(opts.epochNs), '--duration-ns', String(opts.durationNs)];
  const args = 'command' in opts.target
    ? ['run', ...timing, '--shim', paths.shim, '--', ...opts.target.command]
    : ['attach', ...timing, '--pid', String(opts.target.pid), '--zero-scan', ...opts.target.mappings.flatMap((m) => ['--range', `${m.start.toString(16)}:${m.pages}`])];
  const cpu0 = process.cpuUsage();
  const session = new RecordingSession((e) => spool.write(e));
  const child = spawn(paths.binary, args, { stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
  const forward = () => { child.kill('SIGTERM'); };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  let failure: unknown = null;
  try {
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, error }));
      child.on('close', (code, signal) => resolve({ code, signal }));
    });
    const rl = createInterface({ input: child.stdio[3] as Readable, crlfDelay: Infinity });
    for await (const text of rl) {
      if (failure || text.trim() === '') continue;
      try {
        session.line(JSON.parse(text) as Record<string, unknown>);
      } catch (e) {
        failure = e;
        if (!(e instanceof RecorderFailure)) child.kill('SIGTERM'); // a bug: do not wait for --duration
      }
    }
    const st = await exited;
    if (st.error) throw new RecorderFailure('spawn', `cannot run ${paths.binary}: ${st.error.message}`);
    if (failure) throw failure;
    if (!session.endLine) {
      throw new Error(`the native recorder stopped unexpectedly (${st.signal ? `signal ${st.signal}` : `status ${st.code}`})`);
    }
    if (session.epochs === 0 || session.map.nPages === 0) throw new RecorderFailure('empty', 'nothing was recorded (no epoch closed, or no writable memory was tracked)');
    const cpu = process.cpuUsage(cpu0);
    const header = buildHeader(session, opts, (cpu.user + cpu.system) * 1000);
    const seen = new Uint8Array(header.nPages);
    let distinct = 0;
    function* counted(): Generator<Epoch> {
      for (const e of spool.epochs()) {
        for (const p of e.pages) if (!seen[p]) { seen[p] = 1; distinct++; }
        yield e;
      }
    }
    const r = await writeTraceFile(opts.output, header, counted());
    const end = session.endLine;
    return {
      output: opts.output, header, epochs: r.epochs, distinctPages: distinct, reason: String(end.reason),
      exitCode: typeof end.code === 'number' ? end.code : null, exitSignal: typeof end.signal === 'number' ? end.signal : null,
      terminated: end.terminated === 1,
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code && (e as NodeJS.ErrnoException).path) throw outputError(opts.output, e);
    throw e;
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    spool.remove();
  }
}

/** The trace header and provenance of a finished session. */
function buildHeader(s: RecordingSession, opts: RecordOptions, dirtylabCpuNs: number): TraceHeader {
  const hello = s.hello ?? {};
  const end = s.endLine ?? {};
  const epochNs = typeof hello.epochNs === 'number' ? hello.epochNs : opts.epochNs;
  const recorderCpuNs = typeof end.cpuUserNs === 'number' && typeof end.cpuSysNs === 'number' ? end.cpuUserNs + end.cpuSysNs : null;
  const t = opts.target;
  const meta: TraceMeta = {
    source: 'dirtylab record',
    recordedWith: 'userfaultfd async write-protect (UFFD_FEATURE_WP_ASYNC) + PAGEMAP_SCAN with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC; the uffd is created in the process by an LD_PRELOAD shim and taken with pidfd_getfd',
    recorder: { dirtylab: opts.packageVersion, native: hello.version ?? null, uffdFeatures: hello.uffdFeatures ?? null },
    ...('command' in t
      ? { mode: 'command', command: t.command }
      : {
        mode: 'pid',
        target: {
          pid: t.pid, comm: s.processes[0]?.comm ?? null, exe: s.processes[0]?.exe ?? null,
          mappings: t.mappings.map((m) => ({ spec: m.spec, start: '0x' + m.start.toString(16), pages: m.pages, mappingBytes: m.entry.end - m.entry.start, name: m.entry.name })),
        },
      }),
    kernel: hello.kernel ?? null,
    recordedAt: typeof hello.originUnixMs === 'number' ? new Date(hello.originUnixMs).toISOString() : null,
    epochNs,
    durationLimitNs: opts.durationNs || null,
    clock: 'CLOCK_MONOTONIC, ns from the start of epoch 0',
    epoch0MonotonicNs: typeof hello.originMonoNs === 'number' ? hello.originMonoNs : null,
    epochSemantics: 'pages written at least once between two scans; t1 is when the scan that found them started, and a scan walks each process upwards, so a boundary is smeared by the scan (recorderCost.workNs)',
    end: {
      reason: end.reason ?? null,
      ...(typeof end.code === 'number' ? { exitCode: end.code } : {}),
      ...(typeof end.signal === 'number' ? { exitSignal: end.signal } : {}),
      commandStoppedByRecorder: end.terminated === 1,
    },
    processes: s.processes,
    addressMap: s.addressMap(),
    untracked: s.untracked(),
    preRegistration: {
      ...s.preRegistration,
      note: 'writes before a mapping was registered: present anonymous pages of a new private mapping count as written in the epoch it appeared in; present pages of a new shared mapping may only have been read and are not counted (mappings made with mmap() under the shim are registered at once and exact)',
    },
    ...(s.unplacedPages ? { unplacedPages: s.unplacedPages } : {}),
    ...(s.zeroScan ? { zeroScan: s.zeroScan } : {}),
    recorderCost: { ...s.cost, summary: costSummary(s.cost, epochNs, { recorderNs: recorderCpuNs, dirtylabNs: dirtylabCpuNs }) } satisfies RecorderCost,
  };
  for (const [k, v] of Object.entries(opts.extraMeta ?? {})) {
    if (RECORDER_META_KEYS.includes(k) || k in meta) throw new Error(`meta key "${k}" is the recorder's own`);
    meta[k] = v;
  }
  return {
    pageSize: typeof hello.pageSize === 'number' ? hello.pageSize : 4096,
    nPages: s.map.nPages,
    timeUnit: 'ns',
    epochLen: epochNs,
    nEpochs: s.epochs,
    hasTimes: true,
    hasCounts: false,
    zeroAtStart: s.zeroAtStart(),
    meta,
  };
}
