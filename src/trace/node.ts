/**
 * Node-only file access for traces: a TraceInput over a path, and writing a
 * trace to a file atomically (a temporary name, renamed at the end, removed on
 * failure — never a partial output file). The output format follows the name:
 * `.dpt`, `.dpt.gz` (a gzip-wrapped .dpt), `.dpt.jsonl` (optionally `.gz`).
 */
import { createReadStream, existsSync, readdirSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import { open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { Dirent } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createWriteStream } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { TraceInput } from './bytes.js';
import type { DirInput } from './import/common.js';
import { DptWriter, type ByteSink } from './dpt.js';
import { jsonlEpochLine, jsonlHeaderLine } from './jsonl.js';
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

/** Temporary files this process is writing: removed if it is interrupted (SIGINT, SIGTERM). */
const liveTemps = new Set<string>();
let handlersOn = false;

/** Remove the live temporary files now (a signal handler: synchronous). */
function removeLiveTemps(): void {
  for (const t of liveTemps) {
    try { unlinkSync(t); } catch { /* already gone */ }
  }
  liveTemps.clear();
}

/** Track temporary files; on SIGINT/SIGTERM remove them and exit as the signal would (130, 143). */
export function trackTemp(...paths: string[]): () => void {
  for (const p of paths) liveTemps.add(p);
  if (!handlersOn) {
    handlersOn = true;
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(sig, () => {
        removeLiveTemps();
        process.exit(code);
      });
    }
  }
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

/**
 * Remove stale temporary files next to `path` left by a dirtylab process
 * that died (`.NAME.PID.RANDOM.tmp*` whose PID is not running).
 */
export function sweepStaleTemps(path: string): number {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const m = /^(\d+)\.[a-z0-9]+\.tmp(\.raw|\.final)?$/.exec(n.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    try { unlinkSync(join(dir, n)); removed++; } catch { /* raced */ }
  }
  return removed;
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
 * Write a trace to `path` atomically, in the format its name implies. A .dpt
 * is written to a seekable temporary file first, so n_epochs is recorded even
 * when it was not known up front and the result is gzipped afterwards.
 */
export async function writeTraceFile(path: string, header: TraceHeader, epochs: AsyncIterable<Epoch> | Iterable<Epoch>): Promise<{ epochs: number }> {
  const kind = outputKind(path);
  if (!kind) throw new Error(`cannot tell the output format from "${path}": use .dpt, .dpt.gz or .dpt.jsonl`);
  sweepStaleTemps(path);
  const tmp = tempPathFor(path);
  const tmpRaw = kind.gzip || kind.format === 'dpt-jsonl' ? `${tmp}.raw` : tmp;
  const untrack = trackTemp(tmp, tmpRaw, `${tmp}.final`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmpRaw, 'w');
    let count = 0;
    if (kind.format === 'dpt') {
      const w = new DptWriter(new FileSink(fh), header);
      for await (const e of epochs) await w.writeEpoch(e);
      count = (await w.close()).epochs;
    } else {
      // Epoch lines go to the temporary file first; the header line (with the
      // epoch count, so truncation is detected) is put in front afterwards.
      const sink = new FileSink(fh);
      const enc = new TextEncoder();
      let batch: string[] = [];
      for await (const e of epochs) {
        batch.push(jsonlEpochLine(e, header));
        count++;
        if (batch.length >= 256) { await sink.write(enc.encode(batch.join('\n') + '\n')); batch = []; }
      }
      if (batch.length > 0) await sink.write(enc.encode(batch.join('\n') + '\n'));
      if (header.nEpochs !== null && header.nEpochs !== count) throw new Error(`header promised ${header.nEpochs} epochs, ${count} were written`);
    }
    await fh.close();
    fh = undefined;
    const headerLine = kind.format === 'dpt-jsonl' ? jsonlHeaderLine({ ...header, nEpochs: count }) + '\n' : null;
    if (kind.gzip || headerLine !== null) {
      const out = kind.gzip ? tmp : `${tmp}.final`;
      async function* body(): AsyncGenerator<Uint8Array> {
        if (headerLine !== null) yield Buffer.from(headerLine);
        yield* createReadStream(tmpRaw);
      }
      if (kind.gzip) await pipeline(body, createGzip(), createWriteStream(out));
      else await pipeline(body, createWriteStream(out));
      await unlink(tmpRaw);
      if (!kind.gzip) await rename(out, tmp);
    }
    await rename(tmp, path);
    untrack();
    return { epochs: count };
  } catch (e) {
    untrack();
    await fh?.close().catch(() => {});
    await unlink(tmpRaw).catch(() => {});
    await unlink(tmp).catch(() => {});
    await unlink(`${tmp}.final`).catch(() => {});
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
