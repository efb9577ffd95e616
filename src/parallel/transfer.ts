/**
 * A trace as one ArrayBuffer, so it crosses to a worker as a Transferable
 * (moved, not cloned epoch by epoch) and is rebuilt there as views over that
 * buffer (no copy). Layout, in this order (f64s first keep every part aligned):
 *
 *   t0: f64 × E, t1: f64 × E, page offsets: u32 × (E + 1), pages: u32 × P,
 *   count offsets: u32 × (E + 1), counts: u32 × C, zero-at-start: u32 × Z,
 *   flags: u8 × E (bit 0: the epoch carries counts)
 *
 * An epoch without `counts` stays without them (not an empty array), so the
 * rebuilt trace replays exactly like the original.
 */
import type { Epoch, Trace, TraceHeader } from '../trace/model.js';
import { epochsOf, isFileBacked, type AnyTrace } from '../trace/source.js';

/** A trace packed for a worker: in one buffer, or (a streamed .dpt) the file's path and index. */
export type PackedTrace = PackedArrays | PackedFile;

/** A streamed trace the worker opens itself (Node): the path and the scan's index, no pages. */
export interface PackedFile {
  kind: 'file';
  path: string;
  index: unknown;
}

/** A trace packed into one buffer: the header's plain fields and the buffer. */
export interface PackedArrays {
  kind?: 'arrays';
  header: Omit<TraceHeader, 'zeroAtStart'>;
  /** Epochs, list entries (pages), count entries and zero-at-start pages (−1: none known). */
  epochs: number;
  pages: number;
  counts: number;
  zeroAtStart: number;
  buffer: ArrayBuffer;
}

function offsets(p: Pick<PackedArrays, 'epochs' | 'pages' | 'counts' | 'zeroAtStart'>) {
  const e = p.epochs;
  const t0 = 0;
  const t1 = t0 + 8 * e;
  const pageOff = t1 + 8 * e;
  const pages = pageOff + 4 * (e + 1);
  const countOff = pages + 4 * p.pages;
  const counts = countOff + 4 * (e + 1);
  const zero = counts + 4 * p.counts;
  const flags = zero + 4 * Math.max(0, p.zeroAtStart);
  return { t0, t1, pageOff, pages, countOff, counts, zero, flags, bytes: flags + e };
}

/**
 * Pack a trace for a worker (the trace itself is left untouched): a streamed
 * .dpt as its path and index; any other trace into one buffer (a streamed one
 * read whole).
 */
export function packTrace(trace: AnyTrace): PackedTrace {
  if (isFileBacked(trace)) return { kind: 'file', path: trace.path, index: trace.exportIndex() };
  const { zeroAtStart, ...header } = trace.header;
  const ep = epochsOf(trace);
  let pages = 0;
  let counts = 0;
  for (const e of ep) {
    pages += e.pages.length;
    counts += e.counts?.length ?? 0;
  }
  const shape = { epochs: ep.length, pages, counts, zeroAtStart: zeroAtStart ? zeroAtStart.length : -1 };
  const o = offsets(shape);
  const buffer = new ArrayBuffer(o.bytes);
  const t0 = new Float64Array(buffer, o.t0, ep.length);
  const t1 = new Float64Array(buffer, o.t1, ep.length);
  const pageOff = new Uint32Array(buffer, o.pageOff, ep.length + 1);
  const pageAll = new Uint32Array(buffer, o.pages, pages);
  const countOff = new Uint32Array(buffer, o.countOff, ep.length + 1);
  const countAll = new Uint32Array(buffer, o.counts, counts);
  const flags = new Uint8Array(buffer, o.flags, ep.length);
  let p = 0;
  let c = 0;
  ep.forEach((e, k) => {
    t0[k] = e.t0;
    t1[k] = e.t1;
    pageOff[k] = p;
    pageAll.set(e.pages, p);
    p += e.pages.length;
    countOff[k] = c;
    if (e.counts) {
      countAll.set(e.counts, c);
      c += e.counts.length;
      flags[k] = 1;
    }
  });
  pageOff[ep.length] = p;
  countOff[ep.length] = c;
  if (zeroAtStart) new Uint32Array(buffer, o.zero, zeroAtStart.length).set(zeroAtStart);
  return { header: structuredClone(header), ...shape, buffer };
}

/** A copy of a packed trace with its own buffer (one per worker: a transfer detaches the sender's). */
export function copyPacked(p: PackedTrace): PackedTrace {
  if (p.kind === 'file') return p; // plain data, cloned as it is posted
  return { ...p, header: structuredClone(p.header), buffer: p.buffer.slice(0) };
}

/** The buffers a packed trace moves to a worker (none for a file: it is opened there). */
export function transferables(p: PackedTrace): ArrayBuffer[] {
  return p.kind === 'file' ? [] : [p.buffer];
}

/** Rebuild the trace: epochs are views over the packed buffer. */
export function unpackTrace(p: PackedArrays): Trace {
  const o = offsets(p);
  const b = p.buffer;
  const t0 = new Float64Array(b, o.t0, p.epochs);
  const t1 = new Float64Array(b, o.t1, p.epochs);
  const pageOff = new Uint32Array(b, o.pageOff, p.epochs + 1);
  const countOff = new Uint32Array(b, o.countOff, p.epochs + 1);
  const flags = new Uint8Array(b, o.flags, p.epochs);
  const epochs: Epoch[] = new Array(p.epochs);
  for (let k = 0; k < p.epochs; k++) {
    const e: Epoch = { t0: t0[k]!, t1: t1[k]!, pages: new Uint32Array(b, o.pages + 4 * pageOff[k]!, pageOff[k + 1]! - pageOff[k]!) };
    if (flags[k]) e.counts = new Uint32Array(b, o.counts + 4 * countOff[k]!, countOff[k + 1]! - countOff[k]!);
    epochs[k] = e;
  }
  const zeroAtStart = p.zeroAtStart < 0 ? null : new Uint32Array(b, o.zero, p.zeroAtStart);
  return { header: { ...p.header, zeroAtStart }, epochs };
}
