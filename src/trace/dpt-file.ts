/**
 * A .dpt file streamed from disk (Node only; uncompressed .dpt): one scan
 * checks every block as strictly as the in-memory reader (same errors, same
 * byte offsets) and builds an index of ~40 bytes per epoch (t0, t1, payload
 * offset and length, n, encoding, the epoch whose set an "same as previous"
 * epoch repeats). After it the file is an EpochSource: pages(k) reads epoch
 * k's payload with one positioned read (fs.readSync) and decodes it into a
 * reused buffer (a two-epoch cache), so a replay holds one or two epochs, not
 * the trace.
 *
 * The scan reads 8 MiB chunks and decodes LEB128 in tight loops into
 * preallocated Uint32Arrays; write counts are checked, not kept.
 */
import { closeSync, fstatSync, openSync, read as fsRead, readSync } from 'node:fs';
import { KernelMemoryError, type Kernel, type U32Buffer } from '../kernel/index.js';
import { ByteReader } from './bytes.js';
import { ENC_BITMAP, ENC_LIST, ENC_SAME, checkEpochTimes, nominalEpochTimes, checkSetFields, decodeSet, looksLikeDpt, readDptHeader } from './dpt.js';
import { TraceError, type TraceHeader } from './model.js';
import type { EpochSource, SourcedTrace } from './source.js';

const CHUNK = 8 << 20;
/** How far ahead of the scan the file is read ahead (bytes). */
const READ_AHEAD = 4 * CHUNK;

/** Open a file for reading; the errors fileInput gives for a missing, directory or unreadable path. */
function openFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TraceError(path, {}, 'an existing file (no such file)');
    if (code === 'EACCES') throw new TraceError(path, {}, 'a readable file (permission denied)');
    throw e;
  }
  if (fstatSync(fd).isDirectory()) {
    closeSync(fd);
    throw new TraceError(path, {}, 'a file, found a directory');
  }
  return fd;
}

/**
 * Whether `path` is an uncompressed .dpt file (its first bytes are the .dpt
 * magic); false for anything else, including a missing file.
 */
export function isPlainDptFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    if (fstatSync(fd).isDirectory()) return false;
    const head = new Uint8Array(8);
    const got = readSync(fd, head, 0, 8, 0);
    return got >= 7 && looksLikeDpt(head.subarray(0, got));
  } finally {
    closeSync(fd);
  }
}

/** An epoch as the scan hands it over: pages valid only during the callback unless copied. */
export interface ScannedEpoch {
  k: number;
  t0: number;
  t1: number;
  pages: Uint32Array;
  /** With scanEpochs(kernel): the byte offset of `pages` in that kernel's memory, −1 when they are a JS array. */
  kernelPtr?: number;
  /** With scanEpochs(kernel): that kernel. */
  kernel?: Kernel;
}

/** A scanned .dpt file's index as plain data (DptFile.exportIndex / fromIndex). */
export interface DptIndex {
  header: TraceHeader;
  dataStart: number;
  fileSize: number;
  count: number;
  t0s: Float64Array;
  t1s: Float64Array;
  offs: Float64Array;
  lens: Uint32Array;
  ns: Uint32Array;
  encs: Uint8Array;
  srcs: Uint32Array;
}

/** A growable typed array of numbers. */
class Column<T extends Float64Array | Uint32Array | Uint8Array> {
  a: T;
  constructor(private readonly make: (n: number) => T, n: number) {
    this.a = make(Math.max(16, n));
  }
  set(k: number, v: number): void {
    if (k >= this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a as never);
      this.a = b;
    }
    this.a[k] = v;
  }
}

/**
 * A .dpt file on disk as an EpochSource. `open` reads the header; `scan`
 * (required once before random access) checks the whole file and builds the
 * index; `close` releases the file.
 */
export class DptFile implements EpochSource, SourcedTrace {
  private t0s: Column<Float64Array>;
  private t1s: Column<Float64Array>;
  private offs: Column<Float64Array>;
  private lens: Column<Uint32Array>;
  private ns: Column<Uint32Array>;
  private encs: Column<Uint8Array>;
  private srcs: Column<Uint32Array>;
  private count = 0;
  private scanned = false;
  private readBuf = new Uint8Array(1 << 16);
  private cache: { k: number; buf: Uint32Array; n: number }[] = [
    { k: -1, buf: new Uint32Array(0), n: 0 },
    { k: -1, buf: new Uint32Array(0), n: 0 },
  ];
  private lru = 0; // slot to evict next
  /** Bytes of the file. */
  readonly fileSize: number;

  private constructor(
    readonly path: string,
    private fd: number,
    readonly header: TraceHeader,
    /** File offset of the first epoch block. */
    readonly dataStart: number,
  ) {
    this.fileSize = fstatSync(fd).size;
    const n = Math.min(header.nEpochs ?? 1024, 1 << 20);
    this.t0s = new Column((m) => new Float64Array(m), n);
    this.t1s = new Column((m) => new Float64Array(m), n);
    this.offs = new Column((m) => new Float64Array(m), n);
    this.lens = new Column((m) => new Uint32Array(m), n);
    this.ns = new Column((m) => new Uint32Array(m), n);
    this.encs = new Column((m) => new Uint8Array(m), n);
    this.srcs = new Column((m) => new Uint32Array(m), n);
  }

  /**
   * The scan's result as plain data (typed arrays, ~41 bytes per epoch): a
   * worker opens the same file with fromIndex() instead of scanning it again.
   */
  exportIndex(): DptIndex {
    if (!this.scanned) throw new Error('DptFile.exportIndex before scan()');
    const n = this.count;
    return {
      header: this.header, dataStart: this.dataStart, fileSize: this.fileSize, count: n,
      t0s: this.t0s.a.slice(0, n), t1s: this.t1s.a.slice(0, n), offs: this.offs.a.slice(0, n),
      lens: this.lens.a.slice(0, n), ns: this.ns.a.slice(0, n), encs: this.encs.a.slice(0, n), srcs: this.srcs.a.slice(0, n),
    };
  }

  /**
   * Open a file scanned elsewhere (exportIndex()), without scanning it again.
   * Refuses a file whose size changed since.
   */
  static fromIndex(path: string, idx: DptIndex): DptFile {
    const fd = openFile(path);
    const f = new DptFile(path, fd, idx.header, idx.dataStart);
    if (f.fileSize !== idx.fileSize) {
      closeSync(fd);
      throw new TraceError(path, {}, `the file as scanned (${idx.fileSize} bytes), found ${f.fileSize} bytes (it changed while it was read)`);
    }
    f.t0s.a = idx.t0s;
    f.t1s.a = idx.t1s;
    f.offs.a = idx.offs;
    f.lens.a = idx.lens;
    f.ns.a = idx.ns;
    f.encs.a = idx.encs;
    f.srcs.a = idx.srcs;
    f.count = idx.count;
    f.scanned = true;
    return f;
  }

  /** Open a .dpt file and read its header (strictly, as the in-memory reader does). */
  static async open(path: string): Promise<DptFile> {
    const fd = openFile(path);
    try {
      let pos = 0;
      const chunks: AsyncIterator<Uint8Array> = {
        async next() {
          const b = new Uint8Array(1 << 16);
          const got = readSync(fd, b, 0, b.length, pos);
          pos += got;
          return got === 0 ? { done: true, value: undefined } : { done: false, value: b.subarray(0, got) };
        },
      };
      const r = new ByteReader(chunks);
      await r.fill(8);
      if (r.available === 0) throw new TraceError(path, { byte: 0 }, 'a trace (.dpt, .dpt.jsonl or recorder JSON lines), found an empty file');
      const header = await readDptHeader(r, path);
      return new DptFile(path, fd, header, r.offset);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** Number of epochs (after scan). */
  get length(): number {
    return this.count;
  }

  /** This file as a trace the replay takes ({header, source}). */
  get source(): EpochSource {
    return this;
  }

  /** Start of epoch k. */
  t0(k: number): number {
    return this.t0s.a[k]!;
  }

  /** End of epoch k. */
  t1(k: number): number {
    return this.t1s.a[k]!;
  }

  /** |W_k|. */
  size(k: number): number {
    return this.ns.a[k]!;
  }

  /** Bytes the index holds (for the memory bound). */
  get indexBytes(): number {
    return this.t0s.a.byteLength * 3 + this.lens.a.byteLength * 3 + this.encs.a.byteLength;
  }

  /** W_k, decoded from the file into a reused buffer (two-epoch cache). */
  pages(k: number): Uint32Array {
    if (!this.scanned) throw new Error('DptFile.pages before scan()');
    const s = this.srcs.a[k]!; // the epoch whose block holds the set
    for (const c of this.cache) if (c.k === s) return c.buf.subarray(0, c.n);
    const slot = this.cache[this.lru]!;
    this.lru ^= 1;
    const n = this.ns.a[s]!;
    const len = this.lens.a[s]!;
    const at = this.offs.a[s]!;
    if (this.readBuf.length < len) this.readBuf = new Uint8Array(Math.max(len, this.readBuf.length * 2));
    let got = 0;
    while (got < len) {
      const m = readSync(this.fd, this.readBuf, got, len - got, at + got);
      if (m === 0) throw new TraceError(this.path, { byte: at + got }, `epoch ${s}'s payload as scanned (the file changed while it was read)`);
      got += m;
    }
    if (slot.buf.length < n) slot.buf = new Uint32Array(Math.max(n, slot.buf.length * 2));
    const fieldsAt = at - 9;
    decodeSet(this.readBuf, 0, at, this.path, fieldsAt, n, this.encs.a[s]!, len, this.header.nPages, null, `epoch ${s}`, slot.buf);
    slot.k = s;
    slot.n = n;
    return slot.buf.subarray(0, n);
  }

  /**
   * Read the whole file once: check every block (the in-memory reader's
   * checks and messages), build the index, and hand each epoch to `each`
   * (its pages valid only during the call). Runs once; later calls only
   * replay nothing and return.
   */
  scan(each?: (e: ScannedEpoch) => void): void {
    for (const e of this.scanEpochs()) each?.(e);
  }

  /**
   * scan() as a generator: yields each epoch as it is checked (pages valid
   * until the next one is yielded). Runs once; a second run yields nothing.
   * With a kernel, list and bitmap payloads are decoded and write counts
   * checked by it (decodeList, collect, checkCounts), the pages landing in its
   * memory (kernelPtr; the view is valid until its memory grows); anything it
   * refuses is decoded again by the JS reader, which words the error, so
   * errors are the same with or without it.
   */
  *scanEpochs(kernel?: Kernel): Generator<ScannedEpoch> {
    if (this.scanned) return;
    const h = this.header;
    const file = this.path;
    const fd = this.fd;
    const size = this.fileSize;
    let buf = new Uint8Array(CHUNK);
    let base = this.dataStart; // file offset of buf[0]
    let lo = 0; // next byte to consume
    let hi = 0; // end of the bytes read
    /** Make buf[lo, lo + n) hold file bytes; returns how many of them it does (fewer only at the end of the file). */
    const ensure = (n: number): number => {
      if (hi - lo >= n) return n;
      if (lo + n > buf.length) {
        const nb = n > buf.length ? new Uint8Array(Math.max(n, buf.length * 2)) : buf;
        if (nb === buf) buf.copyWithin(0, lo, hi);
        else nb.set(buf.subarray(lo, hi));
        buf = nb;
        base += lo;
        hi -= lo;
        lo = 0;
      }
      while (hi - lo < n) {
        const at = base + hi;
        const got = readSync(fd, buf, hi, buf.length - hi, at);
        if (got === 0) break;
        hi += got;
        readAhead(at + got);
      }
      return Math.min(n, hi - lo);
    };
    // Read-ahead: while this thread decodes, a libuv thread reads the next chunks into a scratch
    // buffer (the data is dropped; the page cache keeps it), so a file read from the disk is read
    // while it is decoded, not before. At most READ_AHEAD bytes ahead of the scan. The reads are
    // positioned (pread: no file offset moves) into a buffer nothing reads, so one still queued when the
    // file is closed (its fd number perhaps reused) changes nothing; errors are ignored (the scan's own
    // reads report them).
    let ahead = 0; // file offset up to which read-ahead was asked for
    const readAhead = (from: number): void => {
      const limit = Math.min(size, from + READ_AHEAD);
      if (ahead < from) ahead = from;
      while (ahead < limit) {
        const len = Math.min(CHUNK, limit - ahead);
        fsRead(fd, this.scratchAhead(), 0, len, ahead, () => {});
        ahead += len;
      }
    };
    const truncated = (at: number, what: string, n: number, avail: number): never => {
      throw new TraceError(file, { byte: at }, `${what} (${n} bytes), found end of file after ${avail} (truncated file)`);
    };
    const u64 = (at: number, offset: number, what: string): number => {
      const low = buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
      const high = buf[at + 4]! | (buf[at + 5]! << 8) | (buf[at + 6]! << 16) | (buf[at + 7]! << 24);
      if (high >>> 0 >= 2 ** 21) {
        const v = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
        throw new TraceError(file, { byte: offset }, `${what} ≤ 2^53 − 1, found ${v}`);
      }
      return (high >>> 0) * 2 ** 32 + (low >>> 0);
    };
    const u32 = (at: number): number => (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
    // Two page buffers: the previous epoch's set stays intact while the next is decoded.
    const bufs = [new Uint32Array(1024), new Uint32Array(1024)];
    let cur = 0;
    let prev: Uint32Array | null = null;
    let prevSrc = 0;
    // The kernel's two page buffers, the byte area payloads are copied to, and where the previous epoch's pages lie.
    const kbufs: (U32Buffer | null)[] = [null, null];
    let kbytes: { ptr: number; cap: number } | null = null;
    let prevPtr = -1;
    let prevN = 0;
    let useKernel = kernel !== undefined; // until its memory runs out
    /** Copy buf[from, from + m) into the kernel (zero-padded to whole 64-bit words); its byte offset. */
    const toKernel = (kn: Kernel, from: number, m: number): number => {
      const need = Math.ceil(m / 8) * 8 + 8;
      if (!kbytes || kbytes.cap < need) {
        const cap = Math.max(need, 1 << 16, (kbytes?.cap ?? 0) * 2);
        if (kbytes) kn.release(kbytes.ptr, kbytes.cap);
        kbytes = null; // given back: not to be given back twice if the next allocation fails
        kbytes = { ptr: kn.alloc(cap), cap };
      }
      const u8 = kn.u8;
      u8.set(buf.subarray(from, from + m), kbytes.ptr);
      u8.fill(0, kbytes.ptr + m, kbytes.ptr + need);
      return kbytes.ptr;
    };
    let prevT1 = 0;
    let k = 0;
    const fixed = (h.hasTimes ? 16 : 0) + 9;
    try {
      while (true) {
        const pos = base + lo;
        if (h.nEpochs !== null && k === h.nEpochs) {
          if (pos < size) throw new TraceError(file, { byte: pos }, `end of file after n_epochs = ${h.nEpochs} epochs, found more bytes`);
          break;
        }
        if (pos >= size) {
          if (h.nEpochs !== null) throw new TraceError(file, { byte: pos }, `epoch ${k} of n_epochs = ${h.nEpochs}, found end of file (truncated file)`);
          break;
        }
        const blockAt = pos;
        const got = ensure(fixed);
        if (got < fixed) truncated(blockAt, `epoch ${k}'s block header`, fixed, got);
        let t0: number;
        let t1: number;
        let o = 0;
        if (h.hasTimes) {
          t0 = u64(lo, blockAt, `epoch ${k}'s t0`);
          t1 = u64(lo + 8, blockAt + 8, `epoch ${k}'s t1`);
          checkEpochTimes(file, blockAt, k, t0, t1, prevT1);
          o = 16;
        } else {
          [t0, t1] = nominalEpochTimes(file, blockAt, k, h);
        }
        const n = u32(lo + o);
        const enc = buf[lo + o + 4]!;
        const len = u32(lo + o + 5);
        const what = `epoch ${k}`;
        checkSetFields(file, blockAt + o, n, enc, len, h.nPages, what);
        lo += fixed;
        const payloadAt = blockAt + fixed;
        const avail = ensure(len);
        if (avail < len) truncated(payloadAt, `${what}'s payload`, len, hi - lo);
        let pages!: Uint32Array;
        let src: number;
        let ptr = -1;
        if (enc === ENC_SAME) {
          // A view into the kernel is made again: its memory may have grown since.
          const p = kernel && prevPtr >= 0 ? kernel.u32.subarray(prevPtr >>> 2, (prevPtr >>> 2) + prevN) : prev;
          pages = decodeSet(buf, lo, payloadAt, file, blockAt + o, n, enc, len, h.nPages, p, what, null);
          src = prevSrc;
          ptr = prevPtr;
        } else {
          let decoded = false;
          if (useKernel && kernel && (enc === ENC_LIST || (enc === ENC_BITMAP && len * 8 < 2 ** 32))) {
            try {
              let out = kbufs[cur ^ 1];
              if (!out || out.length < n + 1) {
                const had = out?.length ?? 0;
                if (out) kernel.dispose(out);
                kbufs[cur ^ 1] = null; // given back: not to be given back twice if the next allocation fails
                out = kbufs[cur ^ 1] = kernel.buffer(Math.max(n + 1, 1024, had * 2));
              }
              const at = toKernel(kernel, lo, len);
              const got = enc === ENC_LIST ? kernel.decodeList(out, h.nPages, at, len, n) : kernel.raw.collect(at, 0, len * 8, out.ptr, n + 1);
              pages = kernel.entriesOf(out, n);
              if (got !== n || (enc === ENC_BITMAP && n > 0 && pages[n - 1]! >= h.nPages)) {
                // The kernel refused the payload: the JS reader words the error.
                decodeSet(buf, lo, payloadAt, file, blockAt + o, n, enc, len, h.nPages, prev, what, new Uint32Array(n + 1));
                throw new Error(`internal error: the kernel refused ${what} of ${file}, the reader did not`);
              }
              cur ^= 1;
              ptr = out.ptr;
              decoded = true;
            } catch (e) {
              if (!(e instanceof KernelMemoryError)) throw e;
              useKernel = false; // the kernel's 4 GiB are taken: the JS reader decodes from here on
            }
          }
          if (!decoded) {
            cur ^= 1;
            if (bufs[cur]!.length < n) bufs[cur] = new Uint32Array(Math.max(n, bufs[cur]!.length * 2));
            pages = decodeSet(buf, lo, payloadAt, file, blockAt + o, n, enc, len, h.nPages, prev, what, bufs[cur]!).subarray(0, n);
          }
          src = k;
        }
        lo += len;
        if (h.hasCounts) {
          let r = -1;
          if (useKernel && kernel && n < 2 ** 28) {
            const m = ensure(Math.min(5 * n, size - (base + lo)));
            try {
              r = kernel.checkCounts(toKernel(kernel, lo, m), m, n);
            } catch (e) {
              if (!(e instanceof KernelMemoryError)) throw e;
              useKernel = false;
            }
            if (useKernel && r < 0) {
              this.checkCounts(ensure, () => buf, () => lo, (v) => { lo = v; }, () => base + lo, n, k);
              throw new Error(`internal error: the kernel refused epoch ${k}'s write counts in ${file}, the reader did not`);
            }
          }
          if (r >= 0) lo += r;
          else this.checkCounts(ensure, () => buf, () => lo, (v) => { lo = v; }, () => base + lo, n, k);
        }
        this.t0s.set(k, t0);
        this.t1s.set(k, t1);
        this.offs.set(k, payloadAt);
        this.lens.set(k, len);
        this.ns.set(k, n);
        this.encs.set(k, enc);
        this.srcs.set(k, src);
        // The view is made again: checking the counts may have grown the kernel's memory.
        if (kernel && ptr >= 0) pages = kernel.u32.subarray(ptr >>> 2, (ptr >>> 2) + n);
        yield kernel ? { k, t0, t1, pages, kernelPtr: ptr, kernel } : { k, t0, t1, pages };
        prev = pages;
        prevPtr = ptr;
        prevN = n;
        prevSrc = src;
        prevT1 = t1;
        k++;
      }
      this.count = k;
      this.scanned = true;
    } finally {
      // The kernel's buffers go back to it once the scan ends (or its consumer stops early).
      this.aheadBuf = null;
      if (kernel) {
        for (const b of kbufs) if (b) kernel.dispose(b);
        const kb = kbytes as { ptr: number; cap: number } | null; // set inside toKernel
        if (kb) kernel.release(kb.ptr, kb.cap);
      }
    }
  }

  /** Check n LEB128 write counts at the scan position (values 1 … 2^32 − 1, ≤ 5 bytes each), consuming them. */
  private checkCounts(
    ensure: (n: number) => number, getBuf: () => Uint8Array, getLo: () => number, setLo: (v: number) => void,
    fileAt: () => number, n: number, k: number,
  ): void {
    const file = this.path;
    const remaining = this.fileSize - fileAt();
    ensure(Math.min(5 * n, remaining));
    const buf = getBuf();
    let lo = getLo();
    const base = fileAt() - lo;
    const end = lo + Math.min(5 * n, remaining);
    for (let i = 0; i < n; i++) {
      const at = lo;
      // Fast path: a one-byte count.
      if (lo < end) {
        const b = buf[lo]!;
        if (b !== 0 && b < 0x80) { lo++; continue; }
      }
      let v = 0;
      let scale = 1;
      for (let j = 0; ; j++) {
        if (j >= 5) throw new TraceError(file, { byte: base + at }, `epoch ${k}: a write count of at most 5 LEB128 bytes`);
        if (lo >= end) throw new TraceError(file, { byte: base + lo }, `epoch ${k}'s write count ${i} of ${n}, found end of file (truncated file)`);
        const byte = buf[lo++]!;
        v += (byte & 0x7f) * scale;
        if ((byte & 0x80) === 0) break;
        scale *= 128;
      }
      if (v === 0 || v > 0xffffffff) throw new TraceError(file, { byte: base + at }, `epoch ${k}: a write count between 1 and 2^32 − 1, found ${v}`);
    }
    setLo(lo);
  }

  private aheadBuf: Uint8Array | null = null;
  /** The read-ahead's scratch buffer (its contents are never read). */
  private scratchAhead(): Uint8Array {
    return (this.aheadBuf ??= new Uint8Array(CHUNK));
  }

  /** Release the file. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Open and scan a .dpt file: a streamed trace ready for the replay. With a
 * kernel the scan decodes in it (faster; the same checks and errors).
 */
export async function openDptFile(path: string, each?: (e: ScannedEpoch) => void, kernel?: Kernel): Promise<DptFile> {
  const f = await DptFile.open(path);
  try {
    for (const e of f.scanEpochs(kernel)) each?.(e);
  } catch (e) {
    f.close();
    throw e;
  }
  return f;
}
