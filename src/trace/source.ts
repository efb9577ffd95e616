/**
 * Epoch sources: random access to a trace's epochs without holding them all
 * (memory: a few bitmaps and one epoch). The replay walks a source; an in-memory Trace is one (its
 * epochs array), a streamed .dpt file another (src/trace/dpt-file.ts: an index
 * of a few tens of bytes per epoch, each epoch's pages decoded on demand).
 * Browser-safe.
 */
import type { Epoch, Trace, TraceHeader } from './model.js';

/** Random access to the epochs of a trace. */
export interface EpochSource {
  /** Number of epochs. */
  readonly length: number;
  /** Start of epoch k (trace axis). */
  t0(k: number): number;
  /** End (exclusive) of epoch k. */
  t1(k: number): number;
  /** |W_k|: pages written in epoch k (no decoding). */
  size(k: number): number;
  /**
   * W_k, sorted. The array may be a reused buffer: it stays valid until
   * pages() has been called for two other epochs; the caller keeps no reference.
   */
  pages(k: number): Uint32Array;
}

/** A trace whose epochs come from a source instead of an array. */
export interface SourcedTrace {
  header: TraceHeader;
  source: EpochSource;
}

/** A trace in memory or streamed. */
export type AnyTrace = Trace | SourcedTrace;

/**
 * A streamed trace read from a file that a worker can open by itself (Node):
 * its path and its index as plain data (src/trace/dpt-file.ts DptFile).
 */
export interface FileBackedTrace extends SourcedTrace {
  readonly path: string;
  exportIndex(): unknown;
  close(): void;
}

/** Whether a trace is read from a file a worker can open (a streamed .dpt). */
export function isFileBacked(t: AnyTrace): t is FileBackedTrace {
  const f = t as Partial<FileBackedTrace>;
  return isSourced(t) && typeof f.path === 'string' && typeof f.exportIndex === 'function';
}

/** The epochs of any trace as an array (a streamed one is read whole: copies of its pages). */
export function epochsOf(t: AnyTrace): Epoch[] {
  if (!isSourced(t)) return t.epochs;
  const src = t.source;
  return Array.from({ length: src.length }, (_, k) => ({ t0: src.t0(k), t1: src.t1(k), pages: src.pages(k).slice() }));
}

/** The epochs of any trace, one after another (a streamed one's pages valid until the next). */
export function* iterEpochs(t: AnyTrace): Generator<Epoch> {
  if (!isSourced(t)) { yield* t.epochs; return; }
  const src = t.source;
  for (let k = 0; k < src.length; k++) yield { t0: src.t0(k), t1: src.t1(k), pages: src.pages(k) };
}

/** Whether a trace is a streamed (sourced) one. */
export function isSourced(t: AnyTrace): t is SourcedTrace {
  return (t as SourcedTrace).source !== undefined;
}

/** The epochs of an in-memory trace as a source (the arrays themselves, no copy). */
export function arraySource(epochs: readonly Epoch[]): EpochSource {
  return {
    length: epochs.length,
    t0: (k) => epochs[k]!.t0,
    t1: (k) => epochs[k]!.t1,
    size: (k) => epochs[k]!.pages.length,
    pages: (k) => epochs[k]!.pages,
  };
}

const sources = new WeakMap<readonly Epoch[], EpochSource>();

/** The source of any trace (cached per epochs array). */
export function epochSource(t: AnyTrace): EpochSource {
  if (isSourced(t)) return t.source;
  let s = sources.get(t.epochs);
  if (!s) sources.set(t.epochs, (s = arraySource(t.epochs)));
  return s;
}

/** A source with every epoch boundary mapped through f (the pages unchanged). */
export function mapTimes(src: EpochSource, f: (t: number) => number): EpochSource {
  return {
    length: src.length,
    t0: (k) => f(src.t0(k)),
    t1: (k) => f(src.t1(k)),
    size: (k) => src.size(k),
    pages: (k) => src.pages(k),
  };
}

/** Σ |W_k| over the source's epochs. */
export function totalWrites(src: EpochSource): number {
  let n = 0;
  for (let k = 0; k < src.length; k++) n += src.size(k);
  return n;
}
