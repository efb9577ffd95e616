/**
 * Derived views of a trace (docs/dpt-format.md), computed exactly in one streaming
 * pass: pages written per epoch, distinct pages, the W(t) curve (distinct
 * pages written in a window of length t, averaged over window starts) and the
 * hot set (pages written in at least a given share of epochs).
 */
import { Kernel, KernelMemoryError, type U32Buffer } from '../kernel/index.js';
import type { Epoch, TraceHeader } from './model.js';
import { epochSource, type AnyTrace } from './source.js';
import { isAddressMap, type AddressMap } from './record/address-map.js';
import type { CostSummary } from './record/session.js';

/** W(t) windows reported by default, in ms (as QEMU's predictor samples). */
export const DEFAULT_WT_WINDOWS_MS = [100, 400, 1000, 4000, 10000];

/** One point of the W(t) curve. */
export interface WtPoint {
  windowMs: number;
  /** Mean distinct pages over window starts; null if the trace is shorter than the window. */
  pages: number | null;
  /** Number of window starts averaged. */
  starts: number;
}

/** The summary `dirtylab inspect` prints. */
export interface TraceSummary {
  pageSize: number;
  nPages: number;
  timeUnit: TraceHeader['timeUnit'];
  epochs: number;
  /** From the first epoch's start to the last epoch's end (ns traces only, else null). */
  durationMs: number | null;
  nominalEpochMs: number | null;
  pagesPerEpoch: { min: number; median: number; max: number; mean: number };
  distinctPages: number;
  wt: WtPoint[];
  hotThreshold: number;
  hotSetPages: number;
  zeroAtStartPages: number | null;
  /** Where t = 0 lies, in ms from the first epoch's start (null if not recorded). */
  timeZeroMs: number | null;
  /** Recorded traces (meta.addressMap): pages written per mapping, hottest first. */
  mappings?: MappingHeat[];
  /** Recorded traces: what recording cost per epoch (meta.recorderCost.summary). */
  recorderCost?: CostSummary;
}

/** How much one mapping of a recorded trace was written. */
export interface MappingHeat {
  name: string;
  kind: string;
  /** Virtual address of its first page (0x… hex) in the first process that maps it. */
  start: string;
  /** Processes that map it (several for shared memory). */
  pids: number[];
  /** Tracked pages of the mapping. */
  pages: number;
  /** Pages written at least once. */
  distinctWritten: number;
  /** Σ over epochs of its pages written in the epoch. */
  pageWrites: number;
  /** Its share of all page-writes of the trace. */
  share: number;
}

/**
 * Group the address map's blocks into mappings — private memory: blocks of
 * one process with the same kind and name that follow each other in its
 * address space (a heap grown in steps is one mapping); shared memory: one
 * per object — and add up, from per-page epoch counts, how much each was
 * written. Hottest first.
 */
export function mappingHeat(map: AddressMap, perPage: Uint32Array): MappingHeat[] {
  const ps = BigInt(map.pageSize);
  const placed = map.blocks.map((b) => ({ b, va: BigInt(b.at[0]?.start ?? '0x0') }));
  placed.sort((x, y) => (x.va < y.va ? -1 : x.va > y.va ? 1 : 0));
  const groups = new Map<string, MappingHeat>();
  const lastEnd = new Map<string, bigint>(); // private: end of the group's last block, per proc:kind:name
  const seq = new Map<string, number>();
  let total = 0;
  for (const { b, va } of placed) {
    const shared = b.dev !== undefined && b.ino !== undefined;
    let key: string;
    if (shared) key = `s:${b.dev}:${b.ino}`;
    else {
      const base = `p:${b.at[0]?.proc}:${b.kind}:${b.name}`;
      if (lastEnd.get(base) !== va) seq.set(base, (seq.get(base) ?? 0) + 1);
      lastEnd.set(base, va + BigInt(b.pages) * ps);
      key = `${base}:${seq.get(base)}`;
    }
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { name: b.name, kind: b.kind, start: b.at[0]?.start ?? '', pids: [], pages: 0, distinctWritten: 0, pageWrites: 0, share: 0 }));
    for (const a of b.at) if (!g.pids.includes(a.pid)) g.pids.push(a.pid);
    const end = Math.min(b.index + b.pages, perPage.length);
    g.pages += b.pages;
    for (let p = b.index; p < end; p++) {
      const c = perPage[p]!;
      if (c > 0) { g.distinctWritten++; g.pageWrites += c; total += c; }
    }
  }
  const out = [...groups.values()];
  for (const g of out) g.share = total > 0 ? g.pageWrites / total : 0;
  return out.sort((a, b) => b.pageWrites - a.pageWrites || b.pages - a.pages);
}

function isCostSummary(v: unknown): v is CostSummary {
  const c = v as Partial<CostSummary> | null;
  return typeof c === 'object' && c !== null && typeof c.workMs?.median === 'number' && typeof c.scanMs?.median === 'number' && typeof c.epochMs === 'number';
}

/** Options of summarizeTrace. */
export interface SummaryOptions {
  /** Share of epochs a page must be written in to be hot (default 0.5). */
  hotThreshold?: number;
  windowsMs?: number[];
}

/**
 * Sliding-window distinct count for one window length. A window starting at
 * epoch k's start covers the epochs whose midpoint lies inside it (always at
 * least epoch k): epochs are the trace's time resolution. Windows are
 * contiguous runs of epochs, so a write of page p in epoch j adds p to the
 * windows starting in [max(f(j), q + 1), j] — f(j) the first window still
 * reaching epoch j, q the epoch of p's previous write — and to no other new
 * one: a difference array over window starts (+1 there, −1 after j) gives
 * every window's distinct count exactly, with work O(1) per page written and
 * memory per epoch, not per page and window.
 */
class WtWindow {
  private ptr = 0; // f: the first window start still reaching the current epoch
  diff = new Float64Array(1024);

  constructor(readonly windowNs: number) {}

  /** Epoch j (midpoint mid) arrives: the first window start that reaches it. */
  first(j: number, mid: number, t0s: Float64Array): number {
    while (this.ptr < j && mid >= t0s[this.ptr]! + this.windowNs) this.ptr++;
    return this.ptr;
  }

  /** Add epoch j's n pages, whose previous writes are at epochs prev[i] − 1 (0: none). */
  add(j: number, f: number, prev: Uint32Array, n: number): void {
    this.grow(j);
    const d = this.diff;
    let atF = 0;
    for (let i = 0; i < n; i++) {
      const s = prev[i]!;
      if (s > f) d[s]!++;
      else atF++;
    }
    d[f]! += atF;
    d[j + 1]! -= n;
  }

  /**
   * add() from a histogram of the previous-write values instead of the list:
   * hist[0] counts the values ≤ fmin (≤ f: all at f), hist[b] the value fmin + b.
   */
  addHist(j: number, f: number, fmin: number, hist: Uint32Array, span: number, n: number): void {
    this.grow(j);
    const d = this.diff;
    let atF = hist[0]!;
    for (let b = 1; b <= span; b++) {
      const c = hist[b]!;
      if (c === 0) continue;
      const s = fmin + b;
      if (s > f) d[s]! += c;
      else atF += c;
    }
    d[f]! += atF;
    d[j + 1]! -= n;
  }

  private grow(j: number): void {
    if (this.diff.length < j + 2) {
      const d = new Float64Array(Math.max(j + 2, this.diff.length * 2));
      d.set(this.diff);
      this.diff = d;
    }
  }

  /** Average the windows (epochs [0, total) as starts) that fit before tEnd. */
  finish(total: number, tEnd: number, t0s: Float64Array): WtPoint {
    let run = 0;
    let sum = 0;
    let starts = 0;
    const d = this.diff;
    for (let k = 0; k < total; k++) {
      run += d[k]!;
      if (t0s[k]! + this.windowNs <= tEnd) { sum += run; starts++; }
    }
    return { windowMs: this.windowNs / 1e6, pages: starts > 0 ? sum / starts : null, starts };
  }
}

/**
 * Per-page write counters in a kernel's memory (counts[p], and last[p] = the
 * ordinal + 1 of the epoch that last wrote p) with the kernel's tallyPages
 * doing the per-page work of summarizeTrace: 4 bytes of wasm memory per
 * counter, two counters per page.
 */
class KernelTally {
  private pagesBuf: U32Buffer | null = null;
  private hist: U32Buffer | null = null;
  private prevBuf: U32Buffer | null = null;
  private sums = new Uint32Array(64);

  private constructor(private readonly k: Kernel, private readonly counts: U32Buffer, private readonly last: U32Buffer, private readonly nPages: number) {}

  /** The counters for nPages pages, or null when they do not fit the kernel's 4 GiB (the caller counts in JS). */
  static create(k: Kernel, nPages: number): KernelTally | null {
    let counts: U32Buffer | null = null;
    try {
      counts = k.buffer(nPages);
      return new KernelTally(k, counts, k.buffer(nPages), nPages);
    } catch (e) {
      if (counts) k.dispose(counts);
      if (e instanceof KernelMemoryError) return null;
      throw e;
    }
  }

  private ensure(b: U32Buffer | null, n: number): U32Buffer {
    if (b && b.length >= n) return b;
    if (b) this.k.dispose(b);
    return this.k.buffer(Math.max(n, 1024, (b?.length ?? 0) * 2));
  }

  /**
   * Tally epoch j's n pages — at kernel byte offset kptr (≥ 0), else copied
   * from `pages`. With span ≥ 0 the previous-write values are histogrammed
   * from fmin (histogram), else listed (prevView). Returns the pages written
   * for the first time.
   */
  epoch(what: string, kptr: number, pages: Uint32Array, n: number, j: number, span: number, fmin: number): number {
    let src: U32Buffer;
    if (kptr >= 0) src = { ptr: kptr, length: n };
    else {
      src = this.pagesBuf = this.ensure(this.pagesBuf, n);
      this.k.entriesOf(src, n).set(pages);
    }
    let r: number;
    if (span >= 0) {
      this.hist = this.ensure(this.hist, 4 * (span + 2));
      r = this.k.tallyPages(src, n, this.nPages, this.counts, this.last, j + 1, this.hist, fmin, null);
    } else {
      this.prevBuf = this.ensure(this.prevBuf, n);
      r = this.k.tallyPages(src, n, this.nPages, this.counts, this.last, j + 1, null, 0, this.prevBuf);
    }
    if (r < 0) throw new RangeError(`${what}: page ${this.k.entriesOf(src, n)[-1 - r]} is not below n_pages = ${this.nPages}`);
    return r;
  }

  /** The histogram h[0 … span] after epoch(…, span ≥ 0), its four lanes summed and zeroed for the next epoch. */
  histogram(span: number): Uint32Array {
    const lanes = this.k.entriesOf(this.hist!, 4 * (span + 2));
    if (this.sums.length < span + 1) this.sums = new Uint32Array(Math.max(span + 1, this.sums.length * 2));
    const h = this.sums;
    for (let b = 0; b <= span; b++) h[b] = lanes[4 * b]! + lanes[4 * b + 1]! + lanes[4 * b + 2]! + lanes[4 * b + 3]!;
    lanes.fill(0);
    return h;
  }

  /** The previous-write values after epoch(…, span < 0). */
  prevView(n: number): Uint32Array {
    return this.k.entriesOf(this.prevBuf!, n);
  }

  /** Writes per page (a view into the kernel's memory: read it before dispose). */
  countsView(): Uint32Array {
    return this.k.entriesOf(this.counts, this.nPages);
  }

  /** The counters copied out to JS (writes per page, last-write epoch + 1): the JS tally goes on from them. */
  toJs(): ChunkedCounters {
    return ChunkedCounters.from(this.k.entriesOf(this.counts, this.nPages), this.k.entriesOf(this.last, this.nPages));
  }

  /** Give every buffer back to the kernel. */
  dispose(): void {
    for (const b of [this.counts, this.last, this.pagesBuf, this.hist, this.prevBuf]) if (b) this.k.dispose(b);
  }
}

const CHUNK_BITS = 12;

/** Entries of per-page write counts at least `threshold` (and at least 1). */
function hotPages(counts: Uint32Array, threshold: number): number {
  let hot = 0;
  for (let p = 0; p < counts.length; p++) if (counts[p]! >= threshold && counts[p]! > 0) hot++;
  return hot;
}

/**
 * summarizeTrace's two counters per page in JS (no kernel, or its 4 GiB
 * full): chunks of 4096 pages made when a page of the chunk is first
 * written, so memory follows the stretches of memory written, not the guest
 * (an 8 TiB guest whose trace writes a few thousand pages took 8 GB of flat
 * arrays).
 */
class ChunkedCounters {
  private readonly counts: (Uint32Array | undefined)[] = [];
  private readonly last: (Uint32Array | undefined)[] = [];

  /** The counters of flat arrays (writes per page, last-write epoch + 1), chunks only where a page was written. */
  static from(counts: Uint32Array, last: Uint32Array): ChunkedCounters {
    const c = new ChunkedCounters();
    for (let base = 0, k = 0; base < counts.length; base += 1 << CHUNK_BITS, k++) {
      const cc = counts.subarray(base, base + (1 << CHUNK_BITS));
      if (!cc.some((x) => x !== 0)) continue;
      (c.counts[k] = new Uint32Array(1 << CHUNK_BITS)).set(cc);
      (c.last[k] = new Uint32Array(1 << CHUNK_BITS)).set(last.subarray(base, base + (1 << CHUNK_BITS)));
    }
    return c;
  }

  /** Count epoch j1 − 1's n pages; each page's previous last-write value goes to prev[i]. Returns the pages written for the first time. */
  add(pages: Uint32Array, n: number, j1: number, prev: Uint32Array): number {
    let fresh = 0;
    for (let i = 0; i < n; i++) {
      const p = pages[i]!;
      const c = p >>> CHUNK_BITS;
      const q = p & ((1 << CHUNK_BITS) - 1);
      let cc = this.counts[c];
      if (!cc) {
        cc = this.counts[c] = new Uint32Array(1 << CHUNK_BITS);
        this.last[c] = new Uint32Array(1 << CHUNK_BITS);
      }
      if (cc[q] === 0) fresh++;
      cc[q]!++;
      const l = this.last[c]!;
      prev[i] = l[q]!;
      l[q] = j1;
    }
    return fresh;
  }

  /** Pages written at least `threshold` times (and at least once). */
  hot(threshold: number): number {
    let hot = 0;
    for (const cc of this.counts) if (cc) hot += hotPages(cc, threshold);
    return hot;
  }

  /** Writes per page as one flat array of nPages (only for an address map's heat). */
  flat(nPages: number): Uint32Array {
    const out = new Uint32Array(nPages);
    this.counts.forEach((cc, c) => { if (cc) out.set(cc.subarray(0, Math.max(0, Math.min(cc.length, nPages - (c << CHUNK_BITS)))), c << CHUNK_BITS); });
    return out;
  }
}

/** An epoch whose pages may already lie in a kernel's memory (DptFile.scanEpochs(kernel)). */
interface MaybeKernelEpoch extends Epoch {
  kernelPtr?: number;
  kernel?: Kernel;
}

/**
 * Summarise a trace's epochs in one pass. Memory: two 32-bit counters per
 * page (in JS: per page of the 4096-page chunks written) and a few numbers
 * per epoch; an epoch's pages are not kept after it is counted (the iterator
 * may reuse its buffers). With a kernel the per-page work runs in it
 * (tallyPages), the counters in its memory; without one (null), or when its
 * 4 GiB are full, in JS — the same result either way.
 */
export async function summarizeTrace(
  header: TraceHeader, epochs: AsyncIterable<Epoch> | Iterable<Epoch>, kernel: Kernel | null, opts: SummaryOptions = {},
): Promise<TraceSummary> {
  const hotThreshold = opts.hotThreshold ?? 0.5;
  const isNs = header.timeUnit === 'ns';
  const windows = isNs ? (opts.windowsMs ?? DEFAULT_WT_WINDOWS_MS).map((ms) => new WtWindow(ms * 1e6)) : [];
  let tally = kernel ? KernelTally.create(kernel, header.nPages) : null;
  try {
    let chunked = tally ? null : new ChunkedCounters();
    let prev = new Uint32Array(1024);
    let t0s = new Float64Array(1024);
    const firsts = new Float64Array(windows.length);
    const sizes: number[] = [];
    let distinctPages = 0;
    let firstT0: number | null = null;
    let lastT1 = 0;
    let j = 0;
    for await (const e of epochs) {
      firstT0 ??= e.t0;
      lastT1 = e.t1;
      const pages = e.pages;
      const n = pages.length; // read before the kernel may grow (a kernel view's length then reads 0)
      sizes.push(n);
      if (windows.length > 0) {
        if (t0s.length <= j) { const t = new Float64Array(t0s.length * 2); t.set(t0s); t0s = t; }
        t0s[j] = e.t0;
        const mid = (e.t0 + e.t1) / 2;
        for (let w = 0; w < windows.length; w++) firsts[w] = windows[w]!.first(j, mid, t0s);
      }
      let tallied = false;
      if (tally) {
        let fmin = j;
        for (let w = 0; w < windows.length; w++) fmin = Math.min(fmin, firsts[w]!);
        // A histogram of previous writes costs O(span) per epoch: used unless the windows span far more epochs than pages.
        const span = j - fmin;
        const useHist = span <= 2 * n + 64;
        const me = e as MaybeKernelEpoch;
        let fresh = -1;
        try {
          fresh = tally.epoch(`epoch ${j}`, me.kernel === kernel ? me.kernelPtr ?? -1 : -1, pages, n, j, useHist ? span : -1, fmin);
        } catch (err) {
          // The kernel's memory ran out (before this epoch was counted): the JS tally goes on from its counters.
          if (!(err instanceof KernelMemoryError)) throw err;
          chunked = tally.toJs();
          tally.dispose();
          tally = null;
        }
        if (fresh >= 0) {
          distinctPages += fresh;
          if (useHist) {
            const h = tally!.histogram(span);
            for (let w = 0; w < windows.length; w++) windows[w]!.addHist(j, firsts[w]!, fmin, h, span, n);
          } else {
            const pv = tally!.prevView(n);
            for (let w = 0; w < windows.length; w++) windows[w]!.add(j, firsts[w]!, pv, n);
          }
          tallied = true;
        }
      }
      if (!tallied) {
        if (prev.length < n) prev = new Uint32Array(Math.max(n, prev.length * 2));
        distinctPages += chunked!.add(pages, n, j + 1, prev);
        for (let w = 0; w < windows.length; w++) windows[w]!.add(j, firsts[w]!, prev, n);
      }
      j++;
    }
    const tEnd = lastT1;
    const wt = windows.map((w) => w.finish(j, tEnd, t0s));
    const threshold = hotThreshold * j;
    const hot = j === 0 ? 0 : chunked ? chunked.hot(threshold) : hotPages(tally!.countsView(), threshold);
    const sorted = [...sizes].sort((a, b) => a - b);
    const median = sorted.length === 0 ? 0 : sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
    const tz = header.meta.timeZeroNs;
    const map = header.meta.addressMap;
    const cost = (header.meta.recorderCost as { summary?: unknown } | undefined)?.summary;
    return {
      pageSize: header.pageSize,
      nPages: header.nPages,
      timeUnit: header.timeUnit,
      epochs: j,
      durationMs: isNs && firstT0 !== null ? (lastT1 - firstT0) / 1e6 : null,
      nominalEpochMs: isNs ? header.epochLen / 1e6 : null,
      pagesPerEpoch: {
        min: sorted[0] ?? 0,
        median,
        max: sorted[sorted.length - 1] ?? 0,
        mean: sizes.length ? sizes.reduce((s, x) => s + x, 0) / sizes.length : 0,
      },
      distinctPages,
      wt,
      hotThreshold,
      hotSetPages: hot,
      zeroAtStartPages: header.zeroAtStart ? header.zeroAtStart.length : null,
      timeZeroMs: isNs && typeof tz === 'number' ? tz / 1e6 : null,
      ...(isAddressMap(map) ? { mappings: mappingHeat(map, chunked ? chunked.flat(header.nPages) : tally!.countsView()) } : {}),
      ...(isCostSummary(cost) ? { recorderCost: cost } : {}),
    };
  } finally {
    tally?.dispose();
  }
}

/**
 * The guest's write rate: distinct pages written per second of the trace's
 * time, over all its epochs (Σ |W_k| / Σ (t1 − t0)); 0 for a trace without
 * time (ns). Host profiles scale the sender's CPU cost with it.
 */
export function meanWriteRate(trace: AnyTrace): number {
  if (trace.header.timeUnit !== 'ns') return 0;
  const src = epochSource(trace);
  let pages = 0;
  let ns = 0;
  for (let k = 0; k < src.length; k++) {
    pages += src.size(k);
    ns += src.t1(k) - src.t0(k);
  }
  return ns > 0 ? (pages * 1e9) / ns : 0;
}
