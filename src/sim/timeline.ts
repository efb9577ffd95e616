/**
 * The guest's writes in guest time (docs/methods.md). Within epoch k (absolute
 * ordinal: it keeps counting when the trace loops) page p is written once at
 *
 *   w(p, k) = t0_k + h(p, k) · (t1_k − t0_k)
 *
 * where h is a fixed, unseeded hash to [0, 1) with 20-bit resolution
 * (`write-time=uniform`), or 0 (`start`) or 1 (`end`). A write at w has
 * happened at guest time τ iff w < τ. The timeline hands the engine, in
 * instant order, every write with w < τ as τ advances; an epoch whose writes
 * all fall before τ is handed over whole, so the cost is proportional to the
 * pages written, never to epochs × pages. The trace is read through an
 * EpochSource (in memory, or a .dpt streamed from disk one epoch at a time).
 */
import { epochSource, type AnyTrace, type EpochSource } from '../trace/source.js';

/** Where writes fall inside an epoch. */
export type WriteTime = 'uniform' | 'start' | 'end';
/** What happens when the guest reaches the end of the trace. */
export type OnTraceEnd = 'loop' | 'stop' | 'idle';

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** h(p, k) as a 20-bit integer: the write instant is t0 + (h / 2^20)·(t1 − t0). */
export function writeHash20(page: number, ordinal: number): number {
  return fmix32((Math.imul(page, 0x9e3779b1) ^ fmix32(ordinal + 0x632be5ab)) >>> 0) >>> 12;
}

/** The write instant of page p in epoch [t0, t1) with absolute ordinal k. */
export function writeInstant(page: number, ordinal: number, t0: number, t1: number, model: WriteTime): number {
  if (model === 'start') return t0;
  if (model === 'end') return t1;
  return t0 + (writeHash20(page, ordinal) / 2 ** 20) * (t1 - t0);
}

/**
 * Receives writes: `pages[from..to)` (any order) all written before the
 * current guest time; the array is the trace's (or its kept order's), to be
 * read during the call, never kept or changed. `writes` (default to − from)
 * counts the writes they stand for: whole laps of a looping trace are handed
 * over as the union of their pages once.
 */
export type WriteSink = (pages: Uint32Array, from: number, to: number, writes?: number) => void;

/** Options of a Timeline. */
export interface TimelineOptions {
  writeTime: WriteTime;
  onTraceEnd: OnTraceEnd;
  /** Guest time (trace axis, ns) at which the migration starts; earlier writes are history. */
  startNs: number;
}

/** Streams a trace's writes in guest-time order, looping or stopping at its end. */
export class Timeline {
  /** The trace's epochs. */
  readonly src: EpochSource;
  readonly period: number;
  private readonly n: number; // epochs in the trace
  private k: number; // absolute ordinal of the current epoch
  private fileIndex: number;
  private offset = 0; // added to file times in the current loop
  private sorted: Uint32Array | null = null; // pages of the current epoch by write instant
  private radix = { h: new Uint32Array(0), idx: new Uint32Array(0), idx2: new Uint32Array(0), pages: new Uint32Array(0) };
  private next = 0; // first page of `sorted` not yet written
  private union: Uint32Array | null = null; // every page the trace writes, sorted (for whole laps)
  private lapWrites = 0; // writes in one lap
  /** Times the trace wrapped around to its first epoch. */
  loops = 0;
  /** The guest ran past the end of the trace (onTraceEnd stop/idle). */
  ended = false;

  constructor(trace: AnyTrace, readonly opts: TimelineOptions) {
    const src = (this.src = epochSource(trace));
    this.n = src.length;
    if (this.n === 0) throw new RangeError('the trace has no epochs');
    this.period = Math.max(1, src.t1(this.n - 1) - src.t0(0));
    // Find the epoch holding the start; writes before it are history.
    let i = 0;
    while (i < this.n && !(src.t1(i) > opts.startNs)) i++; // i = n: start after the end, the trace has ended
    this.k = i;
    this.fileIndex = i;
    if (i === this.n) this.wrap();
    this.advance(opts.startNs, () => {});
  }

  /** The epoch the guest is in (or will enter next), with loop-shifted times. */
  current(): { t0: number; t1: number; pages: Uint32Array } | null {
    if (this.ended) return null;
    const f = this.fileIndex;
    return { t0: this.src.t0(f) + this.offset, t1: this.src.t1(f) + this.offset, pages: this.src.pages(f) };
  }

  /** Guest time at which the current epoch ends (Infinity once the trace ended). */
  get epochEnd(): number {
    return this.ended ? Infinity : this.src.t1(this.fileIndex) + this.offset;
  }

  /** Guest time of the end of the trace in the current loop (for onTraceEnd=stop). */
  get traceEnd(): number {
    return this.src.t1(this.n - 1) + this.offset;
  }

  /** Pages written per second in the current epoch (0 once the trace ended). */
  get currentRate(): number {
    if (this.ended) return 0;
    const f = this.fileIndex;
    const t0 = this.src.t0(f);
    const t1 = this.src.t1(f);
    return t1 > t0 ? (this.src.size(f) * 1e9) / (t1 - t0) : 0;
  }

  private wrap(): void {
    if (this.opts.onTraceEnd === 'loop') {
      this.offset += this.period;
      this.fileIndex = 0;
      this.loops++;
    } else {
      this.ended = true;
    }
  }

  private nextEpoch(): void {
    this.k++;
    this.fileIndex++;
    this.sorted = null;
    this.next = 0;
    if (this.fileIndex === this.n) this.wrap();
  }

  /**
   * Hand every write with instant < tau to sink, in instant order. With
   * `stop`, the first write for which stop(page, instant) holds is handed
   * over last and the walk ends there: its instant is returned (null: no
   * write stopped it). Post-copy uses it to halt the guest at its first touch
   * of a page still missing on the destination.
   */
  advance(tau: number, sink: WriteSink, stop?: (page: number, instant: number) => boolean): number | null {
    const model = this.opts.writeTime;
    while (!this.ended) {
      if (!stop && this.fileIndex === 0 && this.next === 0 && this.opts.onTraceEnd === 'loop') this.skipLaps(tau, sink);
      const f = this.fileIndex;
      const t0 = this.src.t0(f) + this.offset;
      const t1 = this.src.t1(f) + this.offset;
      const size = this.src.size(f);
      const last = model === 'start' ? t0 : t1; // every instant is ≤ this (uniform: < t1)
      const whole = model === 'uniform' ? tau >= t1 : tau > last;
      if (!stop && this.next === 0 && whole) {
        if (size > 0) sink(this.src.pages(f), 0, size);
        this.nextEpoch();
        continue;
      }
      if (model !== 'uniform') {
        // All instants equal `last`: nothing of this epoch before it, all of it after.
        if (!whole) return null;
        const pages = this.src.pages(f);
        const j = stop ? this.firstStop(pages, this.next, size, () => last, stop) : size;
        const end = Math.min(j + 1, size);
        this.emit(pages, this.next, end, sink);
        this.next = end;
        if (this.next === size) this.nextEpoch();
        if (j < size) return last;
        continue;
      }
      if (tau <= t0) return null;
      if (!this.sorted) this.sortCurrent(this.src.pages(f));
      const sorted = this.sorted!;
      const span = t1 - t0;
      let j = this.next;
      // h(p, k) is recomputed rather than kept beside the sorted pages: a few multiplies cost less than
      // the memory traffic of a second array (two workers share this machine's memory bandwidth).
      const k = this.k;
      while (j < sorted.length && t0 + (writeHash20(sorted[j]!, k) / 2 ** 20) * span < tau) j++;
      const s = stop ? this.firstStop(sorted, this.next, j, (i: number) => t0 + (writeHash20(sorted[i]!, k) / 2 ** 20) * span, stop) : j;
      const stoppedAt = s < j ? t0 + (writeHash20(sorted[s]!, k) / 2 ** 20) * span : null;
      const end = s < j ? s + 1 : j;
      this.emit(sorted, this.next, end, sink);
      this.next = end;
      const finished = this.next === sorted.length;
      if (finished) this.nextEpoch();
      if (stoppedAt !== null) return stoppedAt;
      if (finished) continue;
      return null;
    }
    return null;
  }

  /**
   * At the start of a lap, hand over every whole lap but the last before tau
   * at once: the union of the trace's pages, counted as a lap's writes each.
   * The dirty log is a set, so this is what the laps one by one would leave;
   * the cost is one pass over the trace's pages however many laps pass.
   */
  private skipLaps(tau: number, sink: WriteSink): void {
    const src = this.src;
    const first = src.t0(0);
    const lapStart = first + this.offset;
    // Guest time by which a lap starting at lapStart has been handed over whole (+1: every mode's test passes).
    const done = (this.opts.writeTime === 'start' ? src.t0(this.n - 1) : src.t1(this.n - 1)) - first + 1;
    if (tau < lapStart + done + this.period) return;
    let laps = Math.floor((tau - lapStart - done) / this.period); // laps after this one that are whole too
    while (laps > 0 && lapStart + laps * this.period + done > tau) laps--;
    if (laps < 1) return;
    if (!this.union) {
      // One pass over the epochs into a bit set, read back in page order: the
      // sorted union, with memory for one bit per page up to the largest written.
      let writes = 0;
      let top = 0;
      for (let k = 0; k < this.n; k++) {
        const s = src.size(k);
        writes += s;
        if (s > 0) { const p = src.pages(k); top = Math.max(top, p[s - 1]! + 1); }
      }
      const bits = new Int32Array((top + 31) >>> 5);
      let distinct = 0;
      for (let k = 0; k < this.n; k++) {
        if (src.size(k) === 0) continue;
        const p = src.pages(k);
        for (let i = 0; i < p.length; i++) {
          const x = p[i]!;
          const m = 1 << (x & 31);
          const w = x >>> 5;
          if ((bits[w]! & m) === 0) { bits[w] = bits[w]! | m; distinct++; }
        }
      }
      const all = new Uint32Array(distinct);
      let o = 0;
      for (let w = 0; w < bits.length; w++) {
        let x = bits[w]!;
        while (x !== 0) {
          all[o++] = w * 32 + (31 - Math.clz32(x & -x));
          x &= x - 1;
        }
      }
      this.union = all;
      this.lapWrites = writes;
    }
    if (this.union.length > 0) sink(this.union, 0, this.union.length, laps * this.lapWrites);
    this.offset += laps * this.period;
    this.k += laps * this.n;
    this.loops += laps;
  }

  /** The index in [from, to) of the first write for which stop holds, else `to`. */
  private firstStop(pages: Uint32Array, from: number, to: number, at: (i: number) => number, stop: (page: number, instant: number) => boolean): number {
    for (let i = from; i < to; i++) if (stop(pages[i]!, at(i))) return i;
    return to;
  }

  /** Hand pages[from, to) to sink. */
  private emit(pages: Uint32Array, from: number, to: number, sink: WriteSink): void {
    if (to > from) sink(pages, from, to);
  }

  /**
   * Order the current epoch's pages by h(p, k): an LSD radix sort, two passes
   * of 10 bits. The order depends only on the epoch and k, so it is kept for
   * the next run of the same trace (see SortedEpochs).
   */
  private sortCurrent(pages: Uint32Array): void {
    if (this.sorted) return;
    const cache = sortedEpochs(this.src);
    const hit = cache.get(this.k, pages);
    if (hit) {
      this.sorted = hit.pages;
      return;
    }
    const n = pages.length;
    let r = this.radix;
    if (r.h.length < n) {
      const m = Math.max(n, r.h.length * 2);
      r = this.radix = { h: new Uint32Array(m), idx: new Uint32Array(m), idx2: new Uint32Array(m), pages: new Uint32Array(m) };
    }
    const h = r.h;
    for (let i = 0; i < n; i++) h[i] = writeHash20(pages[i]!, this.k);
    const count = new Uint32Array(1025);
    for (let i = 0; i < n; i++) count[(h[i]! & 1023) + 1]!++;
    for (let b = 1; b <= 1024; b++) count[b]! += count[b - 1]!;
    for (let i = 0; i < n; i++) r.idx2[count[h[i]! & 1023]!++] = i;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(h[i]! >>> 10) + 1]!++;
    for (let b = 1; b <= 1024; b++) count[b]! += count[b - 1]!;
    for (let j = 0; j < n; j++) { const i = r.idx2[j]!; r.idx[count[h[i]! >>> 10]!++] = i; }
    for (let j = 0; j < n; j++) r.pages[j] = pages[r.idx[j]!]!;
    this.sorted = r.pages.subarray(0, n);
    cache.put(this.k, pages, this.sorted);
  }
}

/** Bytes of sorted epochs kept per trace (4 per page). */
export const SORTED_EPOCHS_BUDGET = 64 * 2 ** 20;

/**
 * The write order of a trace's epochs, kept across runs: each run of the
 * same trace (compare's methods × replicates) walks the same epochs with the
 * same absolute ordinals k (lap after lap), and sorting them was a fifth of
 * a run's time. Keyed by k; at most SORTED_EPOCHS_BUDGET bytes per trace,
 * first come first kept; it goes away with the trace's epoch source.
 */
class SortedEpochs {
  private readonly byOrdinal = new Map<number, { src: Uint32Array; pages: Uint32Array }>();
  private bytes = 0;

  /** The order of the epoch with ordinal k, if kept for this pages array. */
  get(k: number, src: Uint32Array): { pages: Uint32Array } | null {
    const hit = this.byOrdinal.get(k);
    return hit && hit.src === src ? hit : null;
  }

  /** Keep an order (copied) while the budget allows. */
  put(k: number, src: Uint32Array, pages: Uint32Array): void {
    if (this.byOrdinal.has(k) || this.bytes + 4 * pages.length > SORTED_EPOCHS_BUDGET) return;
    this.bytes += 4 * pages.length;
    this.byOrdinal.set(k, { src, pages: pages.slice() });
  }
}

const sortedBySource = new WeakMap<EpochSource, SortedEpochs>();

function sortedEpochs(src: EpochSource): SortedEpochs {
  let c = sortedBySource.get(src);
  if (!c) sortedBySource.set(src, (c = new SortedEpochs()));
  return c;
}
