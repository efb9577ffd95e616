/**
 * Node-only file access for traces: a TraceInput over a path, and writing a
 * trace to a file atomically (a temporary name, renamed at the end, removed on
 * failure — never a partial output file). The output format follows the name:
 * `.dpt`, `.dpt.gz` (a gzip-wrapped .dpt), `.dpt.jsonl` (optionally `.gz`).
 */
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { TraceInput } from './bytes.js';
import type { DirInput } from './import/common.js';
import { DptWriter, type ByteSink } from './dpt.js';
import { jsonlEpochPieces, jsonlHeaderLine } from './jsonl.js';
import { WriteCheck } from './writable.js';
import { TraceError, type Epoch, type TraceHeader } from './model.js';

/** A TraceInput over a file path; a missing file is a TraceError. */
export function fileInput(path: string): TraceInput {
  return {
    name: path,
    async *open() {
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) yield chunk as Uint8Array;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new TraceError(path, {}, 'an existing file (no such file)');
        if (code === 'EISDIR') throw new TraceError(path, {}, 'a file, found a directory');
        if (code === 'EACCES') throw new TraceError(path, {}, 'a readable file (permission denied)');
        throw e;
      }
    },
  };
}

/** The on-disk format implied by a file name. */
export type OutputKind = { format: 'dpt' | 'dpt-jsonl'; gzip: boolean };

/** Output format from a file name; null if the name has no known extension. */
export function outputKind(path: string): OutputKind | null {
  const name = basename(path).toLowerCase();
  const gzip = name.endsWith('.gz');
  const stem = gzip ? name.slice(0, -3) : name;
  if (stem.endsWith('.dpt')) return { format: 'dpt', gzip };
  if (stem.endsWith('.jsonl')) return { format: 'dpt-jsonl', gzip };
  return null;
}

/** A temporary path next to `path` (same file system, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
}

/**
 * Temporary files and directories this process is writing: removed if it is
 * interrupted (SIGINT, SIGTERM). A synchronous write (writeFilesAtomic) cannot
 * be interrupted half-way once a handler is installed: Node runs the handler
 * after the synchronous code, whose own cleanup has then run.
 */
const liveTemps = new Set<string>();
let handlersOn = false;

/** Remove the live temporary files now (a signal handler: synchronous). */
function removeLiveTemps(): void {
  for (const t of liveTemps) {
    try { rmSync(t, { recursive: true, force: true }); } catch { /* already gone */ }
  }
  liveTemps.clear();
}

/** Install the SIGINT/SIGTERM handlers that remove live temporary files and exit as the signal would (130, 143). */
export function cleanUpOnSignals(): void {
  if (handlersOn) return;
  handlersOn = true;
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(sig, () => {
      removeLiveTemps();
      process.exit(code);
    });
  }
}

/** Track temporary files or directories; on SIGINT/SIGTERM they are removed. Returns the untrack function. */
export function trackTemp(...paths: string[]): () => void {
  for (const p of paths) liveTemps.add(p);
  cleanUpOnSignals();
  return () => { for (const p of paths) liveTemps.delete(p); };
}

/** Whether a process with this id is alive. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** dirtylab's temporary names: `.NAME.PID.RANDOM.tmp[.raw|.final|.spool]` (files) and `.dirtylab-tmp-PID` (directories). */
const TEMP_FILE = /^\..+\.(\d+)\.[a-z0-9]+\.tmp(\.raw|\.final|\.spool)?$/;
const TEMP_DIR = /^\.dirtylab-tmp-(\d+)$/;

/**
 * Remove stale temporary files and directories in `dir` left by dirtylab
 * processes that died (killed with SIGKILL, or a crash of the machine):
 * dirtylab's temporary names whose PID is not running. Returns how many.
 */
export function sweepStaleTempsIn(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const m = TEMP_FILE.exec(n) ?? TEMP_DIR.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try { rmSync(join(dir, n), { recursive: true, force: true }); removed++; } catch { /* raced */ }
  }
  return removed;
}

/** Sweep the stale temporary files next to `path` (in its directory). */
export function sweepStaleTemps(path: string): number {
  return sweepStaleTempsIn(dirname(path));
}

/** Remove `dir` and the directories above it up to `top` while they are empty. */
function removeEmptyDirs(dir: string, top: string): void {
  let p = resolve(dir);
  const stop = resolve(top);
  while (true) {
    try { rmdirSync(p); } catch { return; }
    if (p === stop) return;
    const up = dirname(p);
    if (up === p) return;
    p = up;
  }
}

/**
 * Write files into `dir` atomically: all to a temporary directory
 * (`.dirtylab-tmp-PID`) first, then each renamed into place. Interrupted by
 * SIGINT/SIGTERM it leaves everything or nothing, never its temporary
 * directory; a directory it created and could not fill is removed again; and
 * stale temporary directories of dead processes are swept first.
 */
export function writeFilesAtomic(dir: string, files: Record<string, string | Uint8Array>): void {
  checkOutputDir(dir);
  const tmp = join(dir, `.dirtylab-tmp-${process.pid}`);
  const untrack = trackTemp(tmp);
  const created = mkdirSync(dir, { recursive: true });
  sweepStaleTempsIn(dir);
  rmSync(tmp, { recursive: true, force: true });
  let done = false;
  try {
    const pause = Number(process.env.DIRTYLAB_TEST_WRITE_PAUSE_MS ?? 0);
    for (const [name, data] of Object.entries(files)) {
      const p = join(tmp, name);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, data);
      // Tests only: widen the window in which a signal arrives mid-write.
      if (pause > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
    for (const name of Object.keys(files)) {
      const target = join(dir, name);
      mkdirSync(dirname(target), { recursive: true });
      renameSync(join(tmp, name), target);
    }
    done = true;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    untrack();
    if (!done && created !== undefined) removeEmptyDirs(dir, created);
  }
}

class FileSink implements ByteSink {
  private pos = 0;
  constructor(private readonly fh: FileHandle) {}
  async write(bytes: Uint8Array): Promise<void> {
    await this.fh.write(bytes, 0, bytes.length, this.pos);
    this.pos += bytes.length;
  }
  async writeAt(position: number, bytes: Uint8Array): Promise<void> {
    await this.fh.write(bytes, 0, bytes.length, position);
  }
}

/**
 * The bytes of .dpt.jsonl epoch lines (after `first`, the header line when
 * known), in blocks of about 1 MiB: each line is built piece by piece, so
 * memory is bounded by one epoch's pages and a block, never the whole text.
 */
async function* jsonlBlocks(
  first: string | null, header: TraceHeader, epochs: AsyncIterable<Epoch> | Iterable<Epoch>, check: WriteCheck,
): AsyncGenerator<Buffer> {
  let parts: string[] = first === null ? [] : [first];
  let chars = first?.length ?? 0;
  for await (const e of epochs) {
    check.epoch(e);
    for (const piece of jsonlEpochPieces(e, header)) {
      parts.push(piece);
      chars += piece.length;
      if (chars >= 1 << 20) { yield Buffer.from(parts.join(''), 'utf8'); parts = []; chars = 0; }
    }
    parts.push('\n');
    chars++;
  }
  if (header.nEpochs !== null && check.epochs !== header.nEpochs) throw new Error(`header promised ${header.nEpochs} epochs, ${check.epochs} were written`);
  if (parts.length > 0) yield Buffer.from(parts.join(''), 'utf8');
}

/**
 * Write a trace to `path` atomically, in the format its name implies. A .dpt
 * is written to a seekable temporary file first, so n_epochs is recorded even
 * when it was not known up front and the result is gzipped afterwards.
 * .dpt.jsonl streams epoch by epoch, each line in pieces: memory is bounded
 * by one epoch, never the whole text. Everything is checked against the
 * readers' rules first (src/trace/writable.ts): what does not pass is a
 * TraceError naming `path`, and no file is left behind.
 */
export async function writeTraceFile(path: string, header: TraceHeader, epochs: AsyncIterable<Epoch> | Iterable<Epoch>): Promise<{ epochs: number }> {
  const kind = outputKind(path);
  if (!kind) throw new Error(`cannot tell the output format from "${path}": use .dpt, .dpt.gz or .dpt.jsonl`);
  const check = new WriteCheck(header, path, kind.format);
  sweepStaleTemps(path);
  const tmp = tempPathFor(path);
  const tmpRaw = kind.gzip || kind.format === 'dpt-jsonl' ? `${tmp}.raw` : tmp;
  const untrack = trackTemp(tmp, tmpRaw, `${tmp}.final`);
  let fh: FileHandle | undefined;
  try {
    let count = 0;
    if (kind.format === 'dpt') {
      fh = await open(tmpRaw, 'w');
      const w = new DptWriter(new FileSink(fh), header);
      for await (const e of epochs) { check.epoch(e); await w.writeEpoch(e); }
      count = (await w.close()).epochs;
      await fh.close();
      fh = undefined;
      if (kind.gzip) {
        await pipeline(createReadStream(tmpRaw), createGzip(), createWriteStream(tmp));
        await unlink(tmpRaw);
      }
    } else if (header.nEpochs !== null) {
      // The epoch count is known: the header line goes first and everything
      // streams straight to the file (through gzip for .gz).
      const body = jsonlBlocks(jsonlHeaderLine(header) + '\n', header, epochs, check);
      // Opened before the pipeline, so the file exists (and is removed) whenever it fails.
      const file = (await open(tmp, 'w')).createWriteStream();
      if (kind.gzip) await pipeline(body, createGzip(), file);
      else await pipeline(body, file);
      count = check.epochs;
    } else {
      // Epoch lines go to the temporary file first; the header line (with the
      // epoch count, so truncation is detected) is put in front afterwards.
      await pipeline(jsonlBlocks(null, header, epochs, check), (await open(tmpRaw, 'w')).createWriteStream());
      count = check.epochs;
      const headerLine = jsonlHeaderLine({ ...header, nEpochs: count }) + '\n';
      async function* body(): AsyncGenerator<Uint8Array> {
        yield Buffer.from(headerLine);
        yield* createReadStream(tmpRaw);
      }
      const final = kind.gzip ? tmp : `${tmp}.final`;
      if (kind.gzip) await pipeline(body, createGzip(), createWriteStream(final));
      else await pipeline(body, createWriteStream(final));
      await unlink(tmpRaw);
      if (!kind.gzip) await rename(final, tmp);
    }
    await rename(tmp, path);
    untrack();
    return { epochs: count };
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmpRaw).catch(() => {});
    await unlink(tmp).catch(() => {});
    await unlink(`${tmp}.final`).catch(() => {});
    untrack();
    // A file-system error on a temporary name is an error on the path the user gave.
    const err = e as NodeJS.ErrnoException;
    if (err?.code && typeof err.path === 'string' && err.path.startsWith(tmp)) err.path = path;
    throw e;
  }
}

/** Whether two paths name the same existing file (same device and inode, whatever the names). */
export function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Pseudo file systems no output may go to (statfs magic numbers): proc, sysfs, debugfs, cgroup, cgroup2. */
const PSEUDO_FS = new Map<number, string>([[0x9fa0, 'procfs'], [0x62656572, 'sysfs'], [0x64626720, 'debugfs'], [0x27e0eb, 'cgroupfs'], [0x63677270, 'cgroup2fs']]);

/**
 * Refuse an output directory that cannot hold files: one inside /proc or /sys
 * (Node's recursive mkdir loops there), or below a path that is a file.
 * Checks the nearest existing ancestor of `dir`.
 */
export function checkOutputDir(dir: string): void {
  let p = resolve(dir);
  while (!existsSync(p)) {
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  let st;
  try {
    st = statSync(p);
  } catch {
    return;
  }
  if (!st.isDirectory()) throw new TraceError(dir, {}, `an output directory, found ${p} to be a file`);
  let kind: string | undefined;
  try {
    kind = PSEUDO_FS.get(statfsSync(p).type);
  } catch {
    kind = undefined;
  }
  if (kind !== undefined || /^\/(proc|sys)(\/|$)/.test(p)) throw new TraceError(dir, {}, `an output directory on a real file system, found ${p} on ${kind ?? 'a pseudo file system'}`);
}

/**
 * A directory as an importer input (bitmap-dir): its regular files, each a
 * TraceInput named by its path. A missing path or a plain file is a TraceError.
 */
export function dirInput(path: string): DirInput {
  return {
    name: path.replace(/\/+$/, ''),
    async entries() {
      let names: Dirent[];
      try {
        names = await readdir(path, { withFileTypes: true });
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new TraceError(path, {}, 'an existing directory (no such directory)');
        if (code === 'ENOTDIR') throw new TraceError(path, {}, 'a directory of per-epoch files, found a file');
        if (code === 'EACCES') throw new TraceError(path, {}, 'a readable directory (permission denied)');
        throw e;
      }
      return names.filter((d) => d.isFile()).map((d) => ({ ...fileInput(join(path, d.name)), baseName: d.name }));
    },
  };
}
