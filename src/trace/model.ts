/**
 * The trace model (docs/dpt-format.md): a header and a sequence of epochs, epoch k
 * covering [t0, t1) on the trace's own time axis and holding W_k, the sorted
 * set of pages written at least once in it.
 */

/** Unit of the trace's time axis. */
export type TimeUnit = 'ns' | 'instructions' | 'rounds';

/** .dpt's numeric codes of the time units. */
export const TIME_UNITS: readonly TimeUnit[] = ['ns', 'instructions', 'rounds'];

/** Everything known about a trace before its first epoch. */
export interface TraceHeader {
  /** Bytes per page (4096 usually). */
  pageSize: number;
  /** Pages in the guest; page indices are 0 … nPages − 1. */
  nPages: number;
  timeUnit: TimeUnit;
  /** Nominal epoch length in timeUnit (the real one is t1 − t0). */
  epochLen: number;
  /** Number of epochs when known up front, else null. */
  nEpochs: number | null;
  /** Epochs carry their own t0/t1 (else epoch k is [k·epochLen, (k+1)·epochLen)). */
  hasTimes: boolean;
  /** Epochs carry a write count per page. */
  hasCounts: boolean;
  /** Pages holding zeros when migration starts, sorted; null = none known. */
  zeroAtStart: Uint32Array | null;
  /**
   * JSON provenance: source, recorder, workload, licence…; `timeZeroNs` is
   * where t = 0 of the trace's own axis lies (e.g. when `migrate` was sent),
   * measured from the first epoch's start.
   */
  meta: TraceMeta;
}

/** A trace's JSON metadata (free-form provenance plus a few known keys). */
export interface TraceMeta {
  timeZeroNs?: number;
  [key: string]: unknown;
}

/** One epoch: pages written at least once in [t0, t1). */
export interface Epoch {
  /** Start, in timeUnit, from the first epoch's start. */
  t0: number;
  /** End (exclusive), in timeUnit. */
  t1: number;
  /** Sorted, unique page indices < nPages. */
  pages: Uint32Array;
  /** Write counts, one per page in `pages` (only when the header hasCounts). */
  counts?: Uint32Array;
}

/** A trace held in memory. */
export interface Trace {
  header: TraceHeader;
  epochs: Epoch[];
}

/** The formats dirtylab reads. */
export type TraceFormat = 'dpt' | 'dpt-jsonl' | 'recorder-jsonl';

/** A position in an input, for error messages. */
export type Where = { byte: number } | { line: number } | Record<string, never>;

/**
 * Bad input: names the file, the byte offset or line, and what was expected.
 * The CLI prints its message as one line and exits with status 2.
 */
export class TraceError extends Error {
  constructor(
    readonly file: string,
    readonly where: Where,
    readonly expected: string,
  ) {
    const at = 'byte' in where ? `byte ${where.byte}: ` : 'line' in where ? `line ${where.line}: ` : '';
    super(`${file}: ${at}expected ${expected}`);
    this.name = 'TraceError';
  }
}

/** Parse one line as a JSON object, or throw a TraceError naming the file, the line and `what`. */
export function jsonObjectLine(text: string, file: string, line: number, what = 'a JSON object per line'): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new TraceError(file, { line }, what);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TraceError(file, { line }, what);
  return o as Record<string, unknown>;
}

/** Whether two sorted page lists hold the same pages. */
export function samePages(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
