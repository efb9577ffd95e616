/**
 * Loading the bitset kernel (build/bitset.wasm) in Node and in browsers, and
 * typed wrappers over its exports.
 *
 * One loader: `new URL('../../build/bitset.wasm', import.meta.url)` resolves to
 * the same file from src/kernel/ (tests) and dist/kernel/ (the package); Node
 * reads it with fs, browsers fetch it; no `node:` module is imported (browser
 * bundles need no stubs). setKernelSource() points it elsewhere (esbuild). Bitmaps are
 * laid out by this module in the kernel's linear memory, which grows on demand
 * up to the 4 GiB wasm32 limit.
 */

/** The raw exports of build/bitset.wasm (pointers are byte offsets). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  or(dst: number, a: number, b: number, lo: number, hi: number): void;
  and(dst: number, a: number, b: number, lo: number, hi: number): void;
  andNot(dst: number, a: number, b: number, lo: number, hi: number): void;
  copy(dst: number, src: number, lo: number, hi: number): void;
  clear(dst: number, lo: number, hi: number): void;
  fill(dst: number, lo: number, hi: number): void;
  popcount(a: number, lo: number, hi: number): number;
  popcountAndNot(a: number, b: number, lo: number, hi: number): number;
  advance(a: number, from: number, k: number, end: number): number;
  collect(a: number, lo: number, hi: number, out: number, max: number): number;
  collectAndNot(a: number, b: number, lo: number, hi: number, out: number, max: number): number;
  setList(bm: number, nBits: number, list: number, n: number): number;
  clearList(bm: number, nBits: number, list: number, n: number): number;
  setList2(a: number, b: number, nBits: number, list: number, n: number): number;
  decodeDeltaVarint(bm: number, nBits: number, src: number, len: number): number;
  decodeList(out: number, nBits: number, src: number, len: number, n: number): number;
  checkCounts(src: number, len: number, n: number): number;
  tallyPages(pages: number, n: number, nBits: number, counts: number, last: number, j1: number, hist: number, fmin: number, prevOut: number): number;
  lastErrorOffset(): number;
}

/** Raised when a bitmap would take the kernel past wasm32's 4 GiB. */
export class KernelMemoryError extends Error {
  constructor(readonly requestedBytes: number) {
    super(
      `the bitset kernel needs ${formatBytes(requestedBytes)} of WebAssembly memory; ` +
        `wasm32 allows at most 4 GiB per kernel instance (use fewer or smaller bitmaps, or more workers)`,
    );
    this.name = 'KernelMemoryError';
  }
}

/** A bitmap of nBits bits at byte offset ptr in a kernel's memory. */
export interface Bitmap {
  readonly ptr: number;
  readonly nBits: number;
  /** Bytes reserved: ceil(nBits / 512) × 64, so whole 64-byte lines. */
  readonly bytes: number;
}

/** A u32 buffer of `length` entries at byte offset ptr. */
export interface U32Buffer {
  readonly ptr: number;
  readonly length: number;
}

const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE; // 4 GiB
const ALIGN = 64;
/** The first 64 KiB belong to the AssemblyScript runtime's static data. */
const HEAP_BASE = PAGE;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Where the kernel comes from: a URL (or a string fetch understands; in Node a
 * file path), a fetch Response, the .wasm bytes, or a compiled module.
 */
export type KernelSource = string | URL | Response | ArrayBuffer | ArrayBufferView | WebAssembly.Module;

let modulePromise: Promise<WebAssembly.Module> | undefined;
let configured: KernelSource | undefined;

/** The packaged kernel: build/bitset.wasm, relative to this module (dist/kernel/ or src/kernel/). */
export function defaultKernelUrl(): URL {
  // The literal `new URL('…', import.meta.url)` form is what Vite, webpack 5,
  // Parcel and rollup's import-meta-assets recognise and copy.
  return new URL('../../build/bitset.wasm', import.meta.url);
}

/**
 * Load the kernel from somewhere else than the packaged file, for every later
 * Kernel.load() / simulate() / compare() in this realm (undefined: back to
 * the default). Needed with bundlers that do not copy `new URL(…,
 * import.meta.url)` assets, such as esbuild: `import wasmUrl from
 * 'dirtylab/bitset.wasm'` with `--loader:.wasm=file`, then
 * `setKernelSource(wasmUrl)`.
 */
export function setKernelSource(source: KernelSource | undefined): void {
  configured = source;
  modulePromise = undefined;
}

/**
 * A Node builtin without a `node:` import anywhere in this module's graph, so
 * browser bundlers (esbuild --platform=browser, Vite, webpack) have nothing to
 * resolve or stub: process.getBuiltinModule (Node ≥ 20.16), else a dynamic
 * import whose specifier is not a literal.
 */
async function nodeBuiltin<T>(name: string): Promise<T> {
  const proc = process as unknown as { getBuiltinModule?: (id: string) => unknown };
  const spec = ['node', name].join(':');
  return (proc.getBuiltinModule?.(spec) as T | undefined) ?? ((await import(/* @vite-ignore */ /* webpackIgnore: true */ spec)) as T);
}

async function compileResponse(res: Response, what: string): Promise<WebAssembly.Module> {
  if (!res.ok) throw new Error(`cannot load the bitset kernel from ${what}: HTTP ${res.status}`);
  return res.headers.get('content-type')?.startsWith('application/wasm')
    ? WebAssembly.compileStreaming(res)
    : WebAssembly.compile(await res.arrayBuffer());
}

async function compileFrom(src: KernelSource): Promise<WebAssembly.Module> {
  if (src instanceof WebAssembly.Module) return src;
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return WebAssembly.compile(src as BufferSource);
  if (!(typeof src === 'string' || src instanceof URL)) return compileResponse(src, src.url || 'a Response');
  let where: string | URL = src;
  if (isNode) {
    const url = src instanceof URL ? src : /^[a-z][a-z0-9+.-]+:/i.test(src) ? new URL(src) : undefined;
    if (url === undefined || url.protocol === 'file:') {
      const fs = await nodeBuiltin<{ readFile(p: URL | string): Promise<Uint8Array<ArrayBuffer>> }>('fs/promises');
      return WebAssembly.compile(await fs.readFile(url ?? src));
    }
    where = url;
  }
  const what = where instanceof URL ? where.href : where;
  let res: Response;
  try {
    res = await fetch(where);
  } catch (e) {
    throw new Error(`cannot load the bitset kernel from ${what}: ${(e as Error).message}`);
  }
  return compileResponse(res, what);
}

/**
 * Compile the kernel: `source` if given, else what setKernelSource() set,
 * else the packaged build/bitset.wasm (Node: read with fs; browsers: fetch).
 * Without an explicit source the module is compiled once per realm.
 */
export function compileKernel(source?: KernelSource): Promise<WebAssembly.Module> {
  if (source !== undefined) return compileFrom(source);
  if (modulePromise === undefined) {
    const p = compileFrom(configured ?? defaultKernelUrl());
    p.catch(() => { if (modulePromise === p) modulePromise = undefined; }); // a failed load may be retried
    modulePromise = p;
  }
  return modulePromise;
}

/**
 * One kernel instance: its own linear memory, a simple allocator over it, and
 * the operations of assembly/index.ts on Bitmap handles. Ranges default to the
 * whole bitmap. Allocate bitmaps once and reuse them: first touch of fresh
 * memory is the dominant cost on these VMs (bench/kernel.mjs measures it).
 */
export class Kernel {
  readonly raw: KernelExports;
  private top = HEAP_BASE;
  private readonly free = new Map<number, number[]>();
  private u8view: Uint8Array;
  private u32view: Uint32Array;

  private constructor(instance: WebAssembly.Instance) {
    this.raw = instance.exports as unknown as KernelExports;
    this.u8view = new Uint8Array(this.raw.memory.buffer);
    this.u32view = new Uint32Array(this.raw.memory.buffer);
  }

  /** Instantiate a kernel (optionally from an already compiled module). */
  static async load(module?: WebAssembly.Module): Promise<Kernel> {
    const mod = module ?? (await compileKernel());
    const instance = await WebAssembly.instantiate(mod, {});
    return new Kernel(instance);
  }

  /** Bytes of linear memory currently reserved by this kernel. */
  get memoryBytes(): number {
    return this.raw.memory.buffer.byteLength;
  }

  // Growth detaches the old views (their length reads 0): checking that costs a field load, where
  // comparing with memory.buffer crossed into the engine on every call (5 % of a comparison's time).

  /** A Uint8Array over the whole memory (re-created after growth). */
  get u8(): Uint8Array {
    if (this.u8view.length === 0) this.refreshViews();
    return this.u8view;
  }

  /** A Uint32Array over the whole memory (re-created after growth). */
  get u32(): Uint32Array {
    if (this.u32view.length === 0) this.refreshViews();
    return this.u32view;
  }

  private refreshViews(): void {
    this.u8view = new Uint8Array(this.raw.memory.buffer);
    this.u32view = new Uint32Array(this.raw.memory.buffer);
  }

  /** Reserve `bytes` (64-byte aligned, zeroed), growing memory if needed. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const reuse = this.free.get(size);
    if (reuse && reuse.length > 0) {
      const ptr = reuse.pop()!;
      this.u8.fill(0, ptr, ptr + size);
      return ptr;
    }
    const ptr = this.top;
    const end = ptr + size;
    if (end > MAX_BYTES) throw new KernelMemoryError(end);
    const have = this.raw.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      try {
        this.raw.memory.grow(pages);
      } catch {
        throw new KernelMemoryError(end);
      }
    }
    this.top = end;
    return ptr; // fresh wasm memory is zero
  }

  /** Return a block from alloc() for reuse by a later alloc of the same size. */
  release(ptr: number, bytes: number): void {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const list = this.free.get(size) ?? [];
    list.push(ptr);
    this.free.set(size, list);
  }

  /** A new zeroed bitmap of nBits bits (nBits < 2^32). */
  bitmap(nBits: number): Bitmap {
    if (!Number.isInteger(nBits) || nBits < 0 || nBits >= 2 ** 32) {
      throw new RangeError(`a bitmap holds 0 to 2^32 - 1 bits, not ${nBits}`);
    }
    const bytes = Math.max(ALIGN, Math.ceil(nBits / 512) * ALIGN);
    return { ptr: this.alloc(bytes), nBits, bytes };
  }

  /** A new u32 buffer of `length` entries. */
  buffer(length: number): U32Buffer {
    return { ptr: this.alloc(length * 4), length };
  }

  /** Give a bitmap or buffer back for reuse. */
  dispose(x: Bitmap | U32Buffer): void {
    this.release(x.ptr, 'nBits' in x ? x.bytes : x.length * 4);
  }

  /** The bytes of a bitmap (a view: valid until memory grows). */
  bytesOf(bm: Bitmap): Uint8Array {
    return this.u8.subarray(bm.ptr, bm.ptr + Math.ceil(bm.nBits / 8));
  }

  /** Entries [0, n) of a u32 buffer (a view: valid until memory grows). */
  entriesOf(buf: U32Buffer, n = buf.length): Uint32Array {
    return this.u32.subarray(buf.ptr >>> 2, (buf.ptr >>> 2) + n);
  }

  /** Copy a page list into a u32 buffer (which must be large enough). */
  writeList(buf: U32Buffer, pages: ArrayLike<number>): void {
    if (pages.length > buf.length) throw new RangeError(`list of ${pages.length} exceeds buffer of ${buf.length}`);
    this.u32.set(pages, buf.ptr >>> 2);
  }

  /** dst = a | b on [lo, hi). */
  or(dst: Bitmap, a: Bitmap, b: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.or(dst.ptr, a.ptr, b.ptr, lo, hi);
  }

  /** dst = a & b on [lo, hi). */
  and(dst: Bitmap, a: Bitmap, b: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.and(dst.ptr, a.ptr, b.ptr, lo, hi);
  }

  /** dst = a & ~b on [lo, hi). */
  andNot(dst: Bitmap, a: Bitmap, b: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.andNot(dst.ptr, a.ptr, b.ptr, lo, hi);
  }

  /** dst = src on [lo, hi). */
  copy(dst: Bitmap, src: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.copy(dst.ptr, src.ptr, lo, hi);
  }

  /** Clear bits [lo, hi). */
  clear(dst: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.clear(dst.ptr, lo, hi);
  }

  /** Set bits [lo, hi). */
  fill(dst: Bitmap, lo = 0, hi = dst.nBits): void {
    this.raw.fill(dst.ptr, lo, hi);
  }

  /** Set bits in [lo, hi). */
  popcount(a: Bitmap, lo = 0, hi = a.nBits): number {
    return this.raw.popcount(a.ptr, lo, hi) >>> 0;
  }

  /** Set bits of a & ~b in [lo, hi). */
  popcountAndNot(a: Bitmap, b: Bitmap, lo = 0, hi = a.nBits): number {
    return this.raw.popcountAndNot(a.ptr, b.ptr, lo, hi) >>> 0;
  }

  /** Position just after the k-th set bit at or after `from` (or `end`). */
  advance(a: Bitmap, from: number, k: number, end = a.nBits): number {
    return this.raw.advance(a.ptr, from, k, end) >>> 0;
  }

  /** Indices of set bits of a in [lo, hi) into out; returns the count. */
  collect(a: Bitmap, out: U32Buffer, lo = 0, hi = a.nBits, max = out.length): number {
    return this.raw.collect(a.ptr, lo, hi, out.ptr, max) >>> 0;
  }

  /** Indices of set bits of a & ~b in [lo, hi) into out; returns the count. */
  collectAndNot(a: Bitmap, b: Bitmap, out: U32Buffer, lo = 0, hi = a.nBits, max = out.length): number {
    return this.raw.collectAndNot(a.ptr, b.ptr, lo, hi, out.ptr, max) >>> 0;
  }

  /** Set the listed bits; returns how many were newly set (−1 − i: entry i out of range). */
  setList(bm: Bitmap, list: U32Buffer, n = list.length): number {
    return this.raw.setList(bm.ptr, bm.nBits, list.ptr, n);
  }

  /** Set the listed bits in two bitmaps at once, without counting (0, or −1 − i: entry i out of range). */
  setList2(a: Bitmap, b: Bitmap, list: U32Buffer, n = list.length): number {
    return this.raw.setList2(a.ptr, b.ptr, a.nBits, list.ptr, n);
  }

  /** Clear the listed bits; returns how many were set (−1 − i: entry i out of range). */
  clearList(bm: Bitmap, list: U32Buffer, n = list.length): number {
    return this.raw.clearList(bm.ptr, bm.nBits, list.ptr, n);
  }

  /**
   * Set the pages of a JS page list in bm, through a scratch buffer reused
   * across calls. Returns how many were newly set.
   */
  setPages(bm: Bitmap, pages: ArrayLike<number>): number {
    const buf = this.scratch(pages.length);
    this.writeList(buf, pages);
    const r = this.setList(bm, buf, pages.length);
    if (r < 0) throw new RangeError(`page ${pages[-1 - r]} is outside a bitmap of ${bm.nBits} pages`);
    return r;
  }

  /** All set bits of a (or of a & ~b) as a new Uint32Array. */
  toList(a: Bitmap, b?: Bitmap, lo = 0, hi = a.nBits): Uint32Array {
    const n = b ? this.popcountAndNot(a, b, lo, hi) : this.popcount(a, lo, hi);
    const buf = this.scratch(n);
    const got = b ? this.collectAndNot(a, b, buf, lo, hi, n) : this.collect(a, buf, lo, hi, n);
    return this.entriesOf(buf, got).slice();
  }

  /**
   * Decode a .dpt sorted-list payload into bm (OR). Returns the page count,
   * or throws DecodeError with the payload-relative byte offset.
   */
  decodeDeltaVarint(bm: Bitmap, payload: Uint8Array): number {
    const buf = this.scratchBytes(payload.length);
    this.u8.set(payload, buf);
    const r = this.raw.decodeDeltaVarint(bm.ptr, bm.nBits, buf, payload.length);
    if (r < 0) throw new DecodeError(r, this.raw.lastErrorOffset() >>> 0);
    return r;
  }

  /**
   * Decode exactly n values of a .dpt sorted-list payload (len bytes at byte
   * offset src in this kernel's memory) into `out`. Returns n, or a negative
   * DECODE_ERRORS code with lastErrorOffset() (src/trace/dpt.ts decodeSet
   * accepts the same payloads and words the error).
   */
  decodeList(out: U32Buffer, nBits: number, src: number, len: number, n: number): number {
    if (n > out.length) throw new RangeError(`decodeList: ${n} pages do not fit a buffer of ${out.length}`);
    return this.raw.decodeList(out.ptr, nBits, src, len, n);
  }

  /** Check n .dpt write counts in the len bytes at byte offset src: the bytes they take, or a negative DECODE_ERRORS code. */
  checkCounts(src: number, len: number, n: number): number {
    return this.raw.checkCounts(src, len, n);
  }

  /**
   * Tally n pages (entries of `pages`, each < nBits): counts[p] += 1 and
   * last[p] := j1, the old last[p] = s going to hist (four interleaved lanes:
   * entry 4·b + (i & 3), b = s − fmin for s > fmin, else 0) or, without
   * hist, to prevOut[i]. Returns the pages written for
   * the first time, or −1 − i for an entry i ≥ nBits.
   */
  tallyPages(
    pages: U32Buffer, n: number, nBits: number, counts: U32Buffer, last: U32Buffer, j1: number,
    hist: U32Buffer | null, fmin: number, prevOut: U32Buffer | null,
  ): number {
    if (n > pages.length || nBits > counts.length || nBits > last.length) throw new RangeError('tallyPages: a buffer is too short');
    if (prevOut === null && hist === null) throw new RangeError('tallyPages: give hist or prevOut');
    if (prevOut !== null && n > prevOut.length) throw new RangeError('tallyPages: prevOut is too short');
    return this.raw.tallyPages(pages.ptr, n, nBits, counts.ptr, last.ptr, j1 >>> 0, hist?.ptr ?? 0, fmin >>> 0, prevOut?.ptr ?? 0);
  }

  private scratchBuf: U32Buffer | undefined;
  private scratch(n: number): U32Buffer {
    if (!this.scratchBuf || this.scratchBuf.length < n) {
      if (this.scratchBuf) this.dispose(this.scratchBuf);
      this.scratchBuf = this.buffer(Math.max(1024, 2 ** Math.ceil(Math.log2(Math.max(n, 1)))));
    }
    return this.scratchBuf;
  }

  private scratchBytes(n: number): number {
    return this.scratch(Math.ceil(n / 4)).ptr;
  }
}

/** What a failed delta-varint decode means, by the kernel's error code. */
export const DECODE_ERRORS: Record<number, string> = {
  [-1]: 'a LEB128 value that runs past the end of the block',
  [-2]: 'a page index below n_pages',
  [-3]: 'strictly increasing pages (a gap of 0 means a duplicate)',
  [-4]: 'a LEB128 value of at most 5 bytes',
  [-5]: 'the block to end after its n_dirty pages',
  [-6]: 'a write count between 1 and 2^32 − 1',
};

/** A malformed delta-varint payload: code (DECODE_*) and byte offset in it. */
export class DecodeError extends Error {
  constructor(readonly code: number, readonly offset: number) {
    super(`expected ${DECODE_ERRORS[code] ?? 'a valid block'} (at payload byte ${offset})`);
    this.name = 'DecodeError';
  }
}

/** "1.5 GiB"-style size. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
